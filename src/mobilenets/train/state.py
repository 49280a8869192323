"""``TrainState``: what a training step changes, and the checkpoint that carries it over a restart.

A checkpoint holds everything the next step depends on: model, optimizer, scheduler, EMA and
grad-scaler states, the epoch and the step inside it, and every rank's random generators. The
data order is a pure function of (seed, epoch) (``data.datasets.EpochSampler``), so the epoch and step
are enough to rebuild it; the rest is restored bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from mobilenets.models.mobilenet import MobileNet
from mobilenets.train.checkpoints import CheckpointManager, rng_state, set_rng_state
from mobilenets.train.config import RESUME_MUST_MATCH, TrainConfig
from mobilenets.train.distributed import DistributedContext

# The TrainState counters a checkpoint carries over.
RESUMED_FIELDS = (
    "epoch",
    "step_in_epoch",
    "global_step",
    "best_top1",
    "best_epoch",
    "train_seconds",
    "epoch_loss_sum",
    "epoch_loss_count",
)


@dataclass
class TrainState:
    """Everything a step reads or changes, and what a checkpoint must hold to continue exactly."""

    model: MobileNet  # the plain module: checkpoints and weight files read this one
    train_model: nn.Module  # what the step calls: the model, maybe wrapped in DDP and compiled
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    ema: AveragedModel | None
    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0  # batches of the current epoch already trained on
    global_step: int = 0
    best_top1: float = -1.0
    best_epoch: int = 0
    train_seconds: float = 0.0  # time spent in train_one_epoch, summed over sessions
    epoch_loss_sum: float = 0.0  # this epoch's training loss so far (survives a resume)
    epoch_loss_count: int = 0


def save_checkpoint(
    state: TrainState,
    checkpoints: CheckpointManager | None,
    context: DistributedContext,
    run_config: dict[str, Any],
    best: bool = False,
) -> None:
    """Every rank hands its RNG state to rank 0, which alone writes the file (also as best.pt)."""
    rngs: list[Any] = [rng_state()]
    if context.enabled:
        rngs = [None] * context.world_size
        torch.distributed.all_gather_object(rngs, rng_state())
    if checkpoints is None:
        return
    payload = {
        "format": "mobilenets-checkpoint",
        "config": run_config,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict(),
        "ema": state.ema.state_dict() if state.ema is not None else None,
        **{name: getattr(state, name) for name in RESUMED_FIELDS},
        "rng": rngs,
        "world_size": context.world_size,
        "written_by_rank": context.rank,
    }
    checkpoints.save(payload, state.global_step, best=best)


def restore_checkpoint(
    state: TrainState, path: Path, saved: dict[str, Any], config: TrainConfig, context: DistributedContext
) -> None:
    """Load ``saved`` (read from ``path``) into ``state`` and this rank's RNGs.

    Raises:
        ValueError: the checkpoint was written with settings that break an exact resume.
    """
    differing = [
        f"{key}: checkpoint {saved['config'].get(key)!r} vs now {getattr(config, key)!r}"
        for key in RESUME_MUST_MATCH
        if saved["config"].get(key) != TrainConfig.to_dict(config).get(key)
    ]
    if saved["world_size"] != context.world_size:
        differing.append(f"processes: checkpoint {saved['world_size']} vs now {context.world_size}")
    if differing:
        raise ValueError(
            f"cannot resume exactly from {path}: settings differ ({'; '.join(differing)}). "
            "Resume with the original settings, or start a new run with --pretrained."
        )
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    state.scaler.load_state_dict(saved["scaler"])
    if state.ema is not None and saved["ema"] is not None:
        state.ema.load_state_dict(saved["ema"])
    for name in RESUMED_FIELDS:
        setattr(state, name, saved[name])
    set_rng_state(saved["rng"][context.rank])
