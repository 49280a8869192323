"""``TrainConfig``: every setting of a training run, in one dataclass that the CLI fills in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mobilenets.config_dicts import config_from_dict, config_to_dict
from mobilenets.data.augment import POLICIES
from mobilenets.models.mobilenet import MAX_INPUT_SIZE
from mobilenets.models.registry import parse_model_name
from mobilenets.train.optim import OPTIMIZERS, SCHEDULES, ScheduleConfig

# The schedule's defaults live in one place, ScheduleConfig; the run's settings start from them.
_SCHEDULE = ScheduleConfig()

AMP_MODES = ("auto", "bf16", "fp16", "off")


@dataclass
class TrainConfig:
    """A training run.

    Data:
        data: ``'digits'`` (built in) or an ImageFolder path (``train/`` + ``val/``, or class
            folders split by ``val_fraction``).
        resolution: input size in pixels; None takes the model's default (32 for digits).
        val_fraction: share held out per class when the folder has no ``val/``.
        batch_size: images per step per process.
        workers: data-loader processes (0 loads in the training process).
        augment: 'none', 'crop', 'crop-flip', 'randaugment' or 'trivial' (see ``data/augment.py``).
        crop_scale: area range of the random resized crop.
        hflip: horizontal flips in the crop-flip policies.

    Model:
        model: a registry name such as 'mobilenet_v1' or 'mobilenet_v2_0.35'.
        width_mult: alpha; None takes the name's (or 1.0).
        bn_momentum: None derives it from the steps per epoch (``recipe.py``).
        dropout: None takes the family default.
        pretrained: a mobilenets ``.safetensors`` file to start from; its head is replaced
            when the class count differs (``reset_classifier``).
        freeze_epochs: train only the classifier for this many epochs, then everything.

    Recipe:
        epochs, optimizer ('sgd' Nesterov, 'rmsprop', 'adamw'), lr, momentum, weight_decay,
        depthwise_decay (decay depthwise filters too), schedule ('cosine', 'step', 'constant'),
        warmup_epochs, min_lr_ratio, decay_epochs, decay_rate, label_smoothing, ema (keep an
        EMA of the weights; a given ema_decay turns it on), ema_decay, grad_clip (max global
        norm, None: off), seed.
        precise_bn: recompute BatchNorm statistics before each evaluation and weights file;
        precise_bn_batches: how many training batches that takes.
        ``None`` for lr, weight_decay, warmup_epochs, bn_momentum, ema_decay and
        precise_bn_batches: derived from the run's length and batch size (``recipe.py``), and
        printed at the start.

    Speed:
        device ('auto', 'cpu', 'cuda'), amp ('auto': bf16 or fp16 autocast on CUDA, none on
        CPU; 'bf16', 'fp16', 'off'), channels_last, compile (torch.compile), sync_bn
        (SyncBatchNorm under DDP, CUDA only), deterministic (bitwise-repeatable kernels),
        threads (CPU intra-op threads; None: torch's default).

    Records:
        out: the run folder. checkpoint_every: also checkpoint every N steps (0: epochs only).
        keep_checkpoints: how many step checkpoints to keep. resume: a checkpoint, a run
        folder or 'auto'. overwrite: delete a previous run's files in ``out`` first (a folder
        that holds a run is otherwise refused without ``resume``). log_every: steps between
        train records. tensorboard: also write TensorBoard events. progress: show progress bars.
    """

    # Data
    data: str = "digits"
    resolution: int | None = None
    val_fraction: float = 0.2
    batch_size: int = 64
    workers: int = 0
    augment: str = "crop-flip"
    crop_scale: tuple[float, float] = (0.08, 1.0)
    hflip: bool = True
    # Model
    model: str = "mobilenet_v1"
    width_mult: float | None = None
    bn_momentum: float | None = None
    dropout: float | None = None
    pretrained: str | None = None
    freeze_epochs: int = 0
    # Recipe
    epochs: int = 10
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = None
    depthwise_decay: bool = True
    schedule: str = _SCHEDULE.kind
    warmup_epochs: float | None = None
    min_lr_ratio: float = _SCHEDULE.min_lr_ratio
    decay_epochs: float = _SCHEDULE.decay_epochs
    decay_rate: float = _SCHEDULE.decay_rate
    label_smoothing: float = 0.1
    ema: bool = False
    ema_decay: float | None = None
    precise_bn: bool = True
    precise_bn_batches: int | None = None
    grad_clip: float | None = None
    seed: int = 0
    # Speed
    device: str = "auto"
    amp: str = "auto"
    channels_last: bool = True
    compile: bool = False
    sync_bn: bool = False
    deterministic: bool = False
    threads: int | None = None
    # Records
    out: str = "runs/train"
    checkpoint_every: int = 0
    keep_checkpoints: int = 3
    resume: str | None = None
    overwrite: bool = False
    log_every: int = 10
    tensorboard: bool = False
    progress: bool = True

    def validate(self) -> None:
        """Raise a ValueError naming the setting, its value and what is allowed."""
        if not self.pretrained:  # a typo in the name is found before the data is scanned
            parse_model_name(self.model)
        checks: list[tuple[bool, str, object, str]] = [
            (self.epochs >= 1, "epochs", self.epochs, ">= 1"),
            # BatchNorm needs two images to estimate a batch's mean and variance.
            (self.batch_size >= 2, "batch_size", self.batch_size, ">= 2 (BatchNorm needs 2 images a batch)"),
            (
                math.isfinite(self.momentum) and 0 <= self.momentum < 1,
                "momentum",
                self.momentum,
                "0 <= m < 1",
            ),
            (0 <= self.min_lr_ratio <= 1, "min_lr_ratio", self.min_lr_ratio, "0 <= ratio <= 1"),
            (self.workers >= 0, "workers", self.workers, ">= 0"),
            (0 <= self.label_smoothing < 1, "label_smoothing", self.label_smoothing, "0 <= s < 1"),
            (0 <= self.freeze_epochs <= self.epochs, "freeze_epochs", self.freeze_epochs, "0 .. epochs"),
            (self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, ", ".join(OPTIMIZERS)),
            (self.schedule in SCHEDULES, "schedule", self.schedule, ", ".join(SCHEDULES)),
            (self.augment in POLICIES, "augment", self.augment, ", ".join(POLICIES)),
            (self.amp in AMP_MODES, "amp", self.amp, ", ".join(AMP_MODES)),
            (self.checkpoint_every >= 0, "checkpoint_every", self.checkpoint_every, ">= 0 (0: epochs only)"),
            (self.keep_checkpoints >= 1, "keep_checkpoints", self.keep_checkpoints, ">= 1"),
            (self.log_every >= 1, "log_every", self.log_every, ">= 1"),
        ]
        if self.resolution is not None:
            checks.append(
                (
                    32 <= self.resolution <= MAX_INPUT_SIZE,
                    "resolution",
                    self.resolution,
                    f"32-{MAX_INPUT_SIZE} px",
                )
            )
        if self.weight_decay is not None:
            checks.append((self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0"))
        if self.lr is not None:
            checks.append((math.isfinite(self.lr) and self.lr > 0, "lr", self.lr, "a finite number > 0"))
        if self.bn_momentum is not None:
            checks.append((0 < self.bn_momentum <= 1, "bn_momentum", self.bn_momentum, "0 < m <= 1"))
        if self.warmup_epochs is not None:
            checks.append((self.warmup_epochs >= 0, "warmup_epochs", self.warmup_epochs, ">= 0"))
        if self.precise_bn_batches is not None:
            checks.append(
                (self.precise_bn_batches >= 1, "precise_bn_batches", self.precise_bn_batches, ">= 1")
            )
        if self.ema_decay is not None:
            checks.append((0 < self.ema_decay < 1, "ema_decay", self.ema_decay, "0 < decay < 1"))
        if self.grad_clip is not None:
            checks.append((self.grad_clip > 0, "grad_clip", self.grad_clip, "> 0"))
        if self.threads is not None:
            checks.append((self.threads >= 1, "threads", self.threads, ">= 1"))
        for ok, name, value, allowed in checks:
            if not ok:
                raise ValueError(f"{name}={value!r} is out of range; allowed: {allowed}")
        if not str(self.out).strip():
            raise ValueError("out='' names no folder; give the run a folder, e.g. --out runs/mine")
        if self.resume and self.overwrite:
            raise ValueError("--resume and --overwrite contradict each other: pick one.")
        if self.freeze_epochs and not self.pretrained:
            raise ValueError(
                f"freeze_epochs={self.freeze_epochs} needs pretrained weights: a frozen random "
                "backbone learns nothing. Pass --pretrained FILE or drop --freeze-epochs."
            )

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config from ``to_dict``'s output; unknown keys are refused (``config_dicts``)."""
        return config_from_dict(cls, data)

    def schedule_config(self, steps_per_epoch: int, warmup_steps: int) -> ScheduleConfig:
        """The learning-rate schedule of this run, for its length in steps."""
        return ScheduleConfig(
            kind=self.schedule,
            total_steps=self.epochs * steps_per_epoch,
            warmup_steps=warmup_steps,
            steps_per_epoch=steps_per_epoch,
            min_lr_ratio=self.min_lr_ratio,
            decay_epochs=self.decay_epochs,
            decay_rate=self.decay_rate,
        )


# Settings a resumed run must share with the run that wrote the checkpoint: anything else would
# silently change the data order, the model or the meaning of the saved optimizer state.
RESUME_MUST_MATCH = (
    "data",
    "resolution",
    "val_fraction",
    "batch_size",
    "model",
    "width_mult",
    "optimizer",
    "seed",
    "augment",
    "epochs",
    "schedule",
    "ema",  # the EMA's state is in the checkpoint: dropping or adding it mid-run is refused
)
