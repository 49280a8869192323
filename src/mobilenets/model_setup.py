"""The model a run trains: built or loaded, head replaced, frozen or not, wrapped for speed and DDP."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from mobilenets.checkpoint import seed_everything
from mobilenets.data import DataSplits
from mobilenets.distributed import DistributedContext
from mobilenets.model import MobileNet
from mobilenets.registry import create_model
from mobilenets.train_config import TrainConfig
from mobilenets.weights import load_model


def build_model(config: TrainConfig, splits: DataSplits, resolution: int) -> MobileNet:
    """The network to train: fresh from the registry, or pretrained with its head replaced.

    Args:
        config: the run's settings (model name, α, BN momentum, dropout, pretrained file).
        splits: the datasets; their class names become the model's labels.
        resolution: the training input size, recorded in the model's preprocessing.

    Returns:
        The model, on the CPU.
    """
    overrides: dict[str, Any] = {}
    if config.bn_momentum is not None:
        overrides["bn_momentum"] = config.bn_momentum
    if config.dropout is not None:
        overrides["dropout"] = config.dropout
    if config.pretrained:
        model = load_model(config.pretrained, **overrides).train()
        if model.config.num_classes != len(splits.classes):
            model.reset_classifier(len(splits.classes))
    else:
        width: dict[str, Any] = {} if config.width_mult is None else {"width_mult": config.width_mult}
        model = create_model(
            config.model,
            num_classes=len(splits.classes),
            resolution_mult=resolution / 224,
            **width,
            **overrides,
        )
    model.labels = list(splits.classes)
    model.preprocess = dataclasses.replace(
        model.preprocess, input_size=(model.config.in_chans, resolution, resolution)
    )
    return model


def prepare_model(
    config: TrainConfig, splits: DataSplits, resolution: int, context: DistributedContext
) -> tuple[MobileNet, nn.Module, AveragedModel | None]:
    """Build the model identically on every rank, then wrap it for speed and DDP.

    Returns:
        ``(model, train_model, ema)``: the plain module (checkpoints and weight files read it),
        what a step calls (maybe DDP-wrapped and compiled), and the EMA copy or None.
    """
    device = context.device
    torch.manual_seed(config.seed)  # the same initial weights whatever the rank
    model = build_model(config, splits, resolution).to(device)
    seed_everything(config.seed + context.rank)  # but each rank its own augmentations
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if config.sync_bn and context.enabled:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ema = None
    if config.ema_decay:
        # use_buffers: the EMA also averages BatchNorm statistics, so it can be evaluated as is.
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    train_model: nn.Module = model
    if context.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=config.freeze_epochs > 0,  # frozen backbone: no grads there
        )
    if config.compile:
        train_model = torch.compile(train_model)  # type: ignore[assignment]
    return model, train_model, ema


def set_backbone_frozen(model: MobileNet, frozen: bool) -> None:
    """Train only the classifier (frozen) or everything; frozen BatchNorms keep their statistics."""
    head = {id(p) for p in model.classifier.parameters()}
    for param in model.parameters():
        param.requires_grad_(not frozen or id(param) in head)
    if frozen:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
