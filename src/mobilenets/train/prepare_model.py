"""The model a run trains: built or loaded, head replaced, frozen or not, wrapped for speed and DDP."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from mobilenets.data.datasets import DataSplits
from mobilenets.models.mobilenet import FAMILY_DEFAULTS, MobileNet
from mobilenets.models.registry import paper_input_size, parse_model_name
from mobilenets.train.checkpoints import seed_everything
from mobilenets.train.config import TrainConfig
from mobilenets.train.distributed import DistributedContext
from mobilenets.train.recipe import Recipe, resolve
from mobilenets.weights.create import create_model


def model_for_run(config: TrainConfig, splits: DataSplits, resolution: int) -> MobileNet:
    """The network to train: fresh from the registry, or pretrained with its head replaced.

    Args:
        config: the run's settings (model name, α, dropout, pretrained file).
        splits: the datasets; their class names become the model's labels.
        resolution: the training input size, recorded in the model's preprocessing.

    Returns:
        The model, on the CPU.
    """
    overrides: dict[str, Any] = {}  # the BN momentum is set once the recipe is known
    if config.dropout is not None:
        overrides["dropout"] = config.dropout
    if config.pretrained:
        model = create_model(weights=config.pretrained, **overrides).train()
        if model.config.num_classes != len(splits.classes):
            model.reset_classifier(len(splits.classes))
    else:
        width: dict[str, Any] = {} if config.width_mult is None else {"width_mult": config.width_mult}
        model = create_model(
            config.model,
            num_classes=len(splits.classes),
            resolution_mult=resolution / paper_input_size(parse_model_name(config.model)[0]),
            **width,
            **overrides,
        )
    model.labels = list(splits.classes)
    model.preprocess = dataclasses.replace(
        model.preprocess, input_size=(model.config.in_chans, resolution, resolution)
    )
    return model


def prepare_model(
    config: TrainConfig,
    splits: DataSplits,
    resolution: int,
    context: DistributedContext,
    steps_per_epoch: int,
) -> tuple[MobileNet, nn.Module, AveragedModel | None, Recipe]:
    """Build the model identically on every rank, derive the run's recipe, wrap it for speed and DDP.

    Returns:
        ``(model, train_model, ema, recipe)``: the plain module (checkpoints and weight files
        read it), what a step calls (maybe DDP-wrapped and compiled), the EMA copy or None, and
        the values derived from the run's length and batch size.
    """
    device = context.device
    torch.manual_seed(config.seed)  # the same initial weights whatever the rank
    model = model_for_run(config, splits, resolution).to(device)
    seed_everything(config.seed + context.rank)  # but each rank its own augmentations
    recipe = resolve(
        family=model.config.spec.family,
        family_bn_momentum=FAMILY_DEFAULTS[model.config.spec.family].bn_momentum,
        optimizer=config.optimizer,
        batch_size=config.batch_size,
        world_size=context.world_size,
        steps_per_epoch=steps_per_epoch,
        epochs=config.epochs,
        pretrained=bool(config.pretrained),
        lr=config.lr,
        weight_decay=config.weight_decay,
        warmup_epochs=config.warmup_epochs,
        bn_momentum=config.bn_momentum,
        ema=config.ema,
        ema_decay=config.ema_decay,
        precise_bn=config.precise_bn,
        precise_bn_batches=config.precise_bn_batches,
    )
    set_bn_momentum(model, recipe.bn_momentum)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if config.sync_bn and context.enabled:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ema = None
    if recipe.ema_decay is not None:
        # use_buffers: the EMA also averages BatchNorm statistics (precise BN then replaces them).
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema_decay), use_buffers=True)
    train_model: nn.Module = model
    if context.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=config.freeze_epochs > 0,  # frozen backbone: no grads there
        )
    if config.compile:
        train_model = torch.compile(train_model)  # type: ignore[assignment]
    return model, train_model, ema, recipe


def set_bn_momentum(model: MobileNet, momentum: float) -> None:
    """Give every BatchNorm layer ``momentum`` and record it in the model's config (and weight files)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum
    model.config = dataclasses.replace(model.config, bn_momentum=momentum)


def set_backbone_frozen(model: MobileNet, frozen: bool) -> None:
    """Train only the classifier (frozen) or everything; frozen BatchNorms keep their statistics."""
    head = {id(p) for p in model.classifier.parameters()}
    for param in model.parameters():
        param.requires_grad_(not frozen or id(param) in head)
    if frozen:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
