"""Optimizers and learning-rate schedules of the MobileNet papers, plus AdamW.

- Weight decay only on conv and linear weights: BatchNorm's scale and shift and every bias are
  left out (decaying them shrinks activations without regularizing anything), and depthwise
  filters optionally too: the V1 paper notes they have so few parameters that little or no
  decay should go on them.
- Schedules are per step: a linear warmup from ``warmup_lr_ratio * lr`` to ``lr``, then cosine
  decay to ``min_lr_ratio * lr`` or a step decay every ``decay_epochs``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

OPTIMIZERS = ("sgd", "rmsprop", "adamw")
SCHEDULES = ("cosine", "step", "constant")


def parameter_groups(
    model: nn.Module, weight_decay: float, depthwise_decay: bool = True
) -> list[dict[str, object]]:
    """Split the trainable parameters into a decayed group and a group without weight decay.

    Args:
        model: the network.
        weight_decay: decay for conv and linear weights.
        depthwise_decay: also decay depthwise conv filters (``groups == in_channels``).

    Returns:
        Two optimizer param groups; the second has ``weight_decay=0``.
    """
    no_decay_ids: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            is_norm = isinstance(module, nn.modules.batchnorm._NormBase)
            is_depthwise = (
                isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels
            )
            if is_norm or name == "bias" or (is_depthwise and not depthwise_decay):
                no_decay_ids.add(id(param))
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in model.parameters():
        (no_decay if id(param) in no_decay_ids else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float,
    *,
    momentum: float = 0.9,
    depthwise_decay: bool = True,
    fused: bool = False,
) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum, RMSprop as in the papers, or AdamW.

    RMSprop follows the V2/V3 recipes (TF's RMSProp: decay 0.9, momentum 0.9, epsilon 0.002
    here because PyTorch adds epsilon outside the square root, while TF's 1.0 sits inside it;
    0.002 is timm's usual translation of that).

    Args:
        model: the network; its parameters are grouped by ``parameter_groups``.
        name: 'sgd', 'rmsprop' or 'adamw'.
        lr: peak learning rate.
        weight_decay: L2 (SGD, RMSprop) or decoupled (AdamW) decay of conv/linear weights.
        momentum: momentum for SGD and RMSprop; AdamW's beta1 (its momentum: 0.9 is PyTorch's
            default, the MobileNetV4-Conv-S recipe uses 0.6, see ``presets``).
        depthwise_decay: decay depthwise filters too.
        fused: use the multi-tensor (``foreach``) implementation: fewer, larger kernels.
    """
    groups = parameter_groups(model, weight_decay, depthwise_decay)
    foreach = True if fused else None
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0, foreach=foreach)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=0.9, eps=0.002, momentum=momentum, foreach=foreach)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999), foreach=foreach)
    raise ValueError(f"optimizer={name!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")


@dataclass(frozen=True)
class ScheduleConfig:
    """A per-step learning-rate multiplier.

    Args:
        kind: 'cosine', 'step' or 'constant' (after warmup).
        total_steps: steps of the whole run.
        warmup_steps: steps of the linear warmup.
        steps_per_epoch: used by the step schedule.
        warmup_lr_ratio: the multiplier at step 0.
        min_lr_ratio: the cosine schedule's final multiplier.
        decay_epochs: the step schedule multiplies by ``decay_rate`` every this many epochs
            (the V2 paper: 0.98 every epoch; V1/V3 recipes: 0.94-0.97 every 2-3 epochs).
        decay_rate: see ``decay_epochs``.
    """

    kind: str = "cosine"
    total_steps: int = 1
    warmup_steps: int = 0
    steps_per_epoch: int = 1
    warmup_lr_ratio: float = 0.01
    min_lr_ratio: float = 0.0
    decay_epochs: float = 2.0
    decay_rate: float = 0.94

    def multiplier(self) -> Callable[[int], float]:
        if self.kind not in SCHEDULES:
            raise ValueError(f"schedule={self.kind!r} is unknown; choose one of {', '.join(SCHEDULES)}")

        def at(step: int) -> float:
            if step < self.warmup_steps:
                return self.warmup_lr_ratio + (1 - self.warmup_lr_ratio) * step / self.warmup_steps
            if self.kind == "cosine":
                span = max(1, self.total_steps - self.warmup_steps)
                progress = min(1.0, (step - self.warmup_steps) / span)
                return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
            if self.kind == "step":
                epoch = (step - self.warmup_steps) / self.steps_per_epoch
                return float(self.decay_rate ** math.floor(epoch / self.decay_epochs))
            return 1.0

        return at


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: ScheduleConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` stepped once per optimizer step; its state (the step count) resumes exactly."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, config.multiplier())
