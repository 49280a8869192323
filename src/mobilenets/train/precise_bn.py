"""BatchNorm statistics that belong to the weights they are saved with.

A BatchNorm layer normalizes with the batch's own mean and variance while training, and with its
running averages in eval mode. Those averages trail the weights: with momentum ``m`` they remember
about the last ``1/m`` steps, so a short run with a small momentum (V1's 0.01 remembers ~100
steps) evaluates with statistics that early, long-gone weights produced. The model then scores
at chance in eval mode while it classifies its training batches well in train mode.

``recalibrate`` fixes that the way pycls and fvcore's "precise BN" do: reset every running
mean and variance, run some training batches through the current weights with BatchNorm in
train mode, and keep the plain average over those batches (momentum ``None``). Nothing else
changes: no gradient, no parameter update, dropout off.

``batch_vs_running`` measures the symptom: accuracy on one batch with batch statistics against
accuracy with the running statistics. A large gap means the running statistics do not match.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """The BatchNorm layers that keep running statistics (SyncBatchNorm included)."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@contextmanager
def _batchnorm_only_training(model: nn.Module, momentum: float | None) -> Iterator[list[_BatchNorm]]:
    """Eval mode everywhere except BatchNorm (train mode, given momentum); restored afterwards."""
    layers = batchnorm_layers(model)
    modes = {module: module.training for module in model.modules()}
    momenta = [layer.momentum for layer in layers]
    model.eval()
    for layer in layers:
        layer.train()
        layer.momentum = momentum
    try:
        yield layers
    finally:
        for layer, value in zip(layers, momenta, strict=True):
            layer.momentum = value
        for module, training in modes.items():
            module.train(training)


@torch.no_grad()
def recalibrate(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace every BatchNorm's running mean and variance with their average over ``batches``.

    Args:
        model: the network; its parameters are not touched, its train/eval modes are restored.
        batches: input batches (B, C, H, W), already on the model's device and normalized as
            training feeds them.

    Returns:
        How many batches were averaged (0 leaves the statistics as they were).
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    saved = [(layer.running_mean.clone(), layer.running_var.clone()) for layer in layers]  # type: ignore[union-attr]
    count = 0
    # momentum None: PyTorch keeps a cumulative average, each batch weighted equally.
    with _batchnorm_only_training(model, momentum=None):
        for layer in layers:
            layer.reset_running_stats()
        for images in batches:
            model(images)
            count += 1
    if count == 0:  # nothing to average over: keep the old statistics rather than the reset ones
        for layer, (mean, var) in zip(layers, saved, strict=True):
            layer.running_mean.copy_(mean)  # type: ignore[union-attr]
            layer.running_var.copy_(var)  # type: ignore[union-attr]
    return count


@dataclass(frozen=True)
class StatisticsCheck:
    """Top-1 on one training batch, normalized by the batch itself and by the running statistics."""

    batch_top1: float  # BatchNorm in train mode: what the training loss saw
    running_top1: float  # eval mode: what validation and every saved file use
    images: int

    def mismatched(self, num_classes: int, gap: float = 0.25) -> bool:
        """True when the running statistics lose ``gap`` or more of the batch-statistics accuracy.

        Only once the model has learned something (batch top-1 well above chance): early in a
        run both figures are noise.
        """
        chance = 1.0 / max(1, num_classes)
        learned = self.batch_top1 >= chance + 0.3 * (1.0 - chance)
        return learned and self.running_top1 <= self.batch_top1 - gap


@torch.no_grad()
def batch_vs_running(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> StatisticsCheck:
    """Classify one batch twice: with its own BatchNorm statistics, then with the running ones.

    Dropout is off in both passes, and the running statistics are left exactly as they were
    (momentum 0 during the batch-statistics pass).

    Args:
        model: the network.
        images: (B, C, H, W) normalized inputs on the model's device.
        labels: (B,) class indices.

    Returns:
        Both top-1 figures.
    """
    was_training = model.training
    layers = batchnorm_layers(model)
    counts = [layer.num_batches_tracked.clone() for layer in layers]  # type: ignore[union-attr]
    with _batchnorm_only_training(model, momentum=0.0):
        batch_top1 = (model(images).argmax(dim=1) == labels).float().mean().item()
    for layer, count in zip(layers, counts, strict=True):
        layer.num_batches_tracked.copy_(count)  # type: ignore[union-attr]
    model.eval()
    running_top1 = (model(images).argmax(dim=1) == labels).float().mean().item()
    model.train(was_training)
    return StatisticsCheck(batch_top1, running_top1, int(labels.numel()))


@dataclass
class TrainingBatches:
    """Augmented, normalized training batches for precise BN and the BN check.

    The loader has an order of its own, and every draw runs under a forked RNG seeded from
    ``(seed, epoch)``: the same batches for the model and its EMA, and the training run's own
    random stream is the same with these passes as without them (so a resumed run stays exact).

    Args:
        loader: a training loader (``data.datasets.make_loader``) with a seed of its own.
        augment: the training augmentation, on ``device``.
        normalize: the model's mean/std normalization.
        device: where the model runs.
        seed: the run's seed.
        channels_last: feed NHWC tensors, as training does.
        autocast_dtype: the training autocast dtype, or None.
    """

    loader: DataLoader
    augment: nn.Module
    normalize: nn.Module
    device: torch.device
    seed: int
    channels_last: bool = False
    autocast_dtype: torch.dtype | None = None

    @contextmanager
    def _forked(self, epoch: int) -> Iterator[None]:
        devices = [self.device] if self.device.type == "cuda" else []
        with (
            torch.random.fork_rng(devices=devices),
            torch.autocast(
                self.device.type,
                dtype=self.autocast_dtype or torch.float32,
                enabled=self.autocast_dtype is not None,
            ),
        ):
            torch.manual_seed(self.seed + epoch)
            yield

    def _batches(self, epoch: int, count: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        for images, labels in itertools.islice(self.loader, count):
            if labels.numel() == 0:  # every image of the batch was unreadable (and reported)
                continue
            images = self.normalize(self.augment(images.to(self.device, non_blocking=True)))  # (B, 3, H, W)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, labels.to(self.device, non_blocking=True)

    def recalibrate(self, model: nn.Module, epoch: int, count: int) -> int:
        """``recalibrate`` over ``count`` of this epoch's batches; returns how many were used."""
        with self._forked(epoch):
            return recalibrate(model, (images for images, _ in self._batches(epoch, count)))

    def check(self, model: nn.Module, epoch: int) -> StatisticsCheck | None:
        """``batch_vs_running`` on this epoch's first batch (None if it had no readable image)."""
        with self._forked(epoch):
            batch = next(self._batches(epoch, 1), None)
            return None if batch is None else batch_vs_running(model, *batch)
