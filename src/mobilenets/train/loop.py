"""Training: ``fit(config)`` runs a whole job; ``train_one_epoch`` is the loop, top to bottom.

One process trains on one device. Under ``torchrun`` every process runs this same file on its
own shard of each batch (DDP), and rank 0 alone prints, logs and writes files.

    fit
    ├─ 1. setup: process group, seeds, determinism
    ├─ 2. data: check, split, loaders (order = f(seed, epoch)); then claim the run folder (lock)
    ├─ 3. model: build or load pretrained, replace the head, derive the recipe from the run's
    │            length and batch (recipe.py), channels_last, SyncBN, DDP, compile
    ├─ 4. recipe: optimizer, schedule, grad scaler, EMA
    ├─ 5. resume: every state, including the RNGs and the position inside the epoch
    ├─ 6. epochs: train_one_epoch -> precise BN -> evaluate -> BN check -> log -> checkpoint
    └─ 7. finish: plots, summary, ranks-agree check
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from rich.console import Console
from torch import nn
from torch.optim.swa_utils import AveragedModel

from mobilenets.atomic_files import atomic_write_bytes
from mobilenets.data.augment import Normalize, build_augmentation
from mobilenets.data.datasets import (
    DIGITS,
    DataError,
    DataSplits,
    build_datasets,
    check_batch_size,
    make_loader,
)
from mobilenets.models.mobilenet import MobileNet
from mobilenets.printable import printable
from mobilenets.train import checkpoints as ckpt
from mobilenets.train import run_folder
from mobilenets.train.config import TrainConfig
from mobilenets.train.distributed import (
    DistributedContext,
    barrier,
    broadcast_buffers,
    broadcast_flag,
    init_distributed,
    ranks_agree,
    shutdown,
)
from mobilenets.train.evaluate import EvalResult, evaluate
from mobilenets.train.metrics_log import MetricsLogger
from mobilenets.train.optim import build_optimizer, build_scheduler
from mobilenets.train.plots import plot_confusion, plot_curves
from mobilenets.train.precise_bn import StatisticsCheck, TrainingBatches
from mobilenets.train.prepare_model import prepare_model, set_backbone_frozen
from mobilenets.train.progress import TrainProgress, format_duration
from mobilenets.train.recipe import Recipe
from mobilenets.train.state import TrainState, restore_checkpoint, save_checkpoint
from mobilenets.weights.file_format import read_metadata, weights_bytes
from mobilenets.weights.metadata import label_problem

__all__ = ["FitResult", "NonFiniteLossError", "TrainConfig", "fit", "train_one_epoch"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped before the bad step touched the weights."""


@dataclass
class FitResult:
    """What ``fit`` returns: the headline figures and where the files are."""

    run_dir: Path
    best_top1: float
    best_epoch: int
    final: dict[str, float]
    train_seconds: float
    best_weights: Path  # the epoch with the best validation top-1 (the EMA's, if kept)
    final_weights: Path  # the weights at the end (the EMA, if kept)
    ranks_identical: bool
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StepContext:
    """What every training step reads besides the ``TrainState`` it changes."""

    config: TrainConfig
    context: DistributedContext
    augment: nn.Module  # on the device: (B, 3, H, W) in [0, 1] -> augmented
    normalize: nn.Module
    steps_per_epoch: int
    autocast_dtype: torch.dtype | None
    progress: TrainProgress
    logger: MetricsLogger | None = None  # rank 0 only
    checkpoints: ckpt.CheckpointManager | None = None  # rank 0 only
    run_config: dict[str, Any] = field(default_factory=dict)  # written into every checkpoint


@dataclass
class Run:
    """The objects one ``fit`` call builds in its setup and uses until it finishes."""

    config: TrainConfig
    context: DistributedContext
    console: Console
    run_dir: Path
    splits: DataSplits
    train_loader: torch.utils.data.DataLoader
    evaluate: Callable[[nn.Module], EvalResult]  # on the validation set, on every rank
    recipe: Recipe
    state: TrainState
    step: StepContext
    statistics: TrainingBatches  # precise BN and the BN check draw from these
    history: list[dict[str, Any]] = field(default_factory=list)
    last_eval: EvalResult | None = None
    bn_warned: bool = False

    @property
    def model(self) -> MobileNet:
        return self.state.model

    @property
    def ema(self) -> AveragedModel | None:
        return self.state.ema


def _autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if config.amp == "off" or (config.amp == "auto" and device.type != "cuda"):
        return None
    if config.amp == "fp16":
        return torch.float16
    if config.amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def train_one_epoch(state: TrainState, loader: torch.utils.data.DataLoader, step: StepContext) -> float:
    """Train on one epoch's batches (from ``state.step_in_epoch`` on, after a resume).

    Returns:
        The mean training loss over the epoch's batches.

    Raises:
        NonFiniteLossError: the loss became NaN or inf (checked before the update).
    """
    config, context, progress = step.config, step.context, step.progress
    device = context.device
    state.train_model.train()
    set_backbone_frozen(state.model, state.epoch < config.freeze_epochs)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    if state.step_in_epoch == 0:
        state.epoch_loss_sum, state.epoch_loss_count = 0.0, 0
    progress.start_epoch(state.epoch, step.steps_per_epoch, done=state.step_in_epoch)
    for images, labels in loader:
        if labels.numel() < 2:  # (nearly) every image of the batch was unreadable, and reported:
            state.step_in_epoch += 1  # BatchNorm cannot train on fewer than 2
            continue
        # 1. The batch on the device, augmented and normalized: (B, 3, H, W) float.
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)  # (B,)
        images = step.normalize(step.augment(images))
        if config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)

        # 2. Forward and loss, in reduced precision where the device has it.
        with torch.autocast(
            device.type, dtype=step.autocast_dtype or torch.float32, enabled=step.autocast_dtype is not None
        ):
            logits = state.train_model(images)  # (B, num_classes)
            loss = criterion(logits.float(), labels)

        # 3. Guard: a NaN/inf loss stops every rank before it reaches the weights.
        _stop_unless_finite(loss, state, step)

        # 4. Backward and update (the scaler is a no-op unless fp16), with optional clipping.
        state.optimizer.zero_grad(set_to_none=True)
        state.scaler.scale(loss).backward()
        if config.grad_clip is not None:
            state.scaler.unscale_(state.optimizer)
            nn.utils.clip_grad_norm_(state.model.parameters(), config.grad_clip)
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.scheduler.step()
        if state.ema is not None:
            state.ema.update_parameters(state.model)
        state.step_in_epoch += 1
        state.global_step += 1

        # 5. Progress and records (rank 0). The .item() above already synchronized the device.
        _record_step(loss.item(), images.shape[0], state, step)

        # 6. Step checkpoint: mid-epoch, so a killed run loses at most N steps.
        if config.checkpoint_every and state.global_step % config.checkpoint_every == 0:
            save_checkpoint(state, step.checkpoints, context, step.run_config)
    return state.epoch_loss_sum / max(1, state.epoch_loss_count)


def _stop_unless_finite(loss: torch.Tensor, state: TrainState, step: StepContext) -> None:
    """Raise ``NonFiniteLossError`` on every rank if any rank's loss is NaN or infinite."""
    context = step.context
    bad = not torch.isfinite(loss).item()
    if context.enabled:
        flag = torch.tensor([float(bad)], device=context.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        bad = bool(flag.item())
    if bad:
        last = step.checkpoints.latest() if step.checkpoints else None
        raise NonFiniteLossError(
            f"the training loss became {loss.item()} at epoch {state.epoch + 1}, step "
            f"{state.step_in_epoch + 1} (global step {state.global_step + 1}); stopped before "
            f"updating the weights. Last good checkpoint: {last or 'none written yet'}. "
            "Lower --lr, add --grad-clip 1.0 or a warmup, or check the data for broken images."
        )


def _record_step(loss_value: float, batch: int, state: TrainState, step: StepContext) -> None:
    """The step's loss into the epoch's mean, the progress bar, and every ``log_every`` steps the log."""
    state.epoch_loss_sum += loss_value
    state.epoch_loss_count += 1
    lr = state.optimizer.param_groups[0]["lr"]
    step.progress.advance(loss_value, lr, batch * step.context.world_size)
    if step.logger is not None and state.global_step % step.config.log_every == 0:
        step.logger.log(
            {
                "kind": "train",
                "step": state.global_step,
                "epoch": state.epoch + 1,
                "loss": loss_value,
                "lr": lr,
            }
        )


def fit(config: TrainConfig, splits: DataSplits | None = None) -> FitResult:
    """Train a MobileNet as ``config`` says; call it the same way under torchrun.

    Args:
        config: the run's settings.
        splits: datasets to use instead of ``config.data`` (for datasets built in Python).

    Returns:
        The best validation top-1 and the files written (on every rank).
    """
    # 1. Setup: the process group (under torchrun), seeds, determinism, the run folder.
    config.validate()
    if config.pretrained:  # a bad weights file is refused before the data is read
        config = _with_pretrained_architecture(config)
    context = init_distributed(config.device)
    # --deterministic and --threads change process-wide settings; put them back afterwards.
    deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    try:
        with ExitStack() as stack:
            # With fp16 the grad scaler skips the first steps whose gradients overflow while it
            # finds its scale, and PyTorch warns that the schedule stepped without the
            # optimizer: expected, so not shown.
            stack.enter_context(warnings.catch_warnings())
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            return _fit(config, splits, context, stack)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
        shutdown(context)


def _with_pretrained_architecture(config: TrainConfig) -> TrainConfig:
    """``config`` with the model and width of its ``--pretrained`` file, which decide them.

    Raises:
        ValueError: the file is unusable, holds a features-only model, or has another width
            than the one asked for.
    """
    assert config.pretrained is not None
    stored = read_metadata(config.pretrained).config
    if stored.features_only:
        raise ValueError(
            f"{config.pretrained}: holds a features-only model (feature maps, no classifier); "
            "--pretrained takes a classifier or headless (num_classes=0) weights file."
        )
    if config.width_mult is not None and abs(config.width_mult - stored.width_mult) > 1e-9:
        raise ValueError(
            f"--width {config.width_mult:g} contradicts --pretrained {config.pretrained}, which holds "
            f"{stored.arch} at width {stored.width_mult:g}; drop --width (the file decides) or pick "
            "matching weights."
        )
    # Recorded in config.json as what is really trained, whatever --model said.
    return dataclasses.replace(config, model=stored.arch, width_mult=stored.width_mult)


def _claim_run_folder(config: TrainConfig, context: DistributedContext, stack: ExitStack) -> None:
    """Rank 0 locks the run folder for this run (``run_folder.claim``); every rank stops if it can't."""
    refusal: Exception | None = None
    if context.is_main:
        try:
            removed = stack.enter_context(
                run_folder.claim(config.out, resume=bool(config.resume), overwrite=config.overwrite)
            )
            if removed:
                print(f"removed {len(removed)} temporary files left by an interrupted write", flush=True)
        except (ValueError, OSError) as error:
            refusal = error
    if broadcast_flag(refusal is not None, context):
        if refusal is not None:
            raise refusal
        raise ValueError(f"rank 0 could not claim the run folder {config.out}; see its message.")


def _fit(
    config: TrainConfig, splits: DataSplits | None, context: DistributedContext, stack: ExitStack
) -> FitResult:
    run = _set_up(config, splits, context, stack)
    try:
        while run.state.epoch < config.epochs:
            _run_epoch(run)
    finally:
        run.step.progress.close()
        if run.step.logger is not None:
            run.step.logger.close()
    return _finish(run)


# -- 1-5: setup ------------------------------------------------------------------------------------
def _set_up(
    config: TrainConfig, splits: DataSplits | None, context: DistributedContext, stack: ExitStack
) -> Run:
    """Steps 1 to 5: process settings, data, model, recipe, resume and the run's records."""
    _configure_process(config, context)
    device, main = context.device, context.is_main
    console = Console(quiet=not main, soft_wrap=True)  # only rank 0 prints
    run_dir = Path(config.out)

    # 2. Data: every pre-flight check happens here, before anything trains.
    splits, resolution, loaders = _load_data(config, splits, context)
    steps_per_epoch = len(splits.train) // context.world_size // config.batch_size
    # The data passed its checks: now the run folder is claimed (locked) for this run.
    _claim_run_folder(config, context, stack)
    console.print(f"data: {splits.description}", highlight=False)
    if main and splits.unreadable:
        _report_unreadable(splits.unreadable, run_dir)

    # 3. Model: built (or loaded) identically on every rank, then wrapped for speed and DDP.
    model, train_model, ema, recipe = prepare_model(config, splits, resolution, context, steps_per_epoch)
    _describe(console, config, context, model, recipe, len(splits.classes), resolution, steps_per_epoch)

    # 4. Recipe: optimizer (no decay on BN/bias), warmup + schedule per step, scaler, EMA.
    autocast_dtype = _autocast_dtype(config, device)
    state = _training_state(config, recipe, steps_per_epoch, autocast_dtype, model, train_model, ema)
    augment = build_augmentation(config.augment, resolution, config.crop_scale, config.hflip).to(device)
    normalize = Normalize(model.preprocess.mean, model.preprocess.std).to(device)
    statistics = TrainingBatches(
        loaders["statistics"],
        augment,
        normalize,
        device,
        config.seed + 1,
        config.channels_last,
        autocast_dtype,
    )
    evaluate_on_val = functools.partial(
        evaluate,
        loader=loaders["val"],
        num_classes=len(splits.classes),
        normalize=normalize,
        device=device,
        context=context,
        channels_last=config.channels_last,
        autocast_dtype=autocast_dtype,
        classes=splits.classes,
    )

    # 5. Resume (every state, including the RNGs and the position inside the epoch), records.
    if config.resume:
        _resume(config, context, console, run_dir, state, steps_per_epoch)
    progress = TrainProgress(console, config.epochs, enabled=main and config.progress)
    step = StepContext(config, context, augment, normalize, steps_per_epoch, autocast_dtype, progress)
    if main:
        _open_records(step, run_dir, state, bool(config.resume))
    return Run(
        config,
        context,
        console,
        run_dir,
        splits,
        loaders["train"],
        evaluate_on_val,
        recipe,
        state,
        step,
        statistics,
    )


def _load_data(
    config: TrainConfig, splits: DataSplits | None, context: DistributedContext
) -> tuple[DataSplits, int, dict[str, torch.utils.data.DataLoader]]:
    """The datasets (checked), the input size, and the train / val / statistics loaders.

    The data order is a pure function of (seed, epoch, rank); precise BN and the BN check draw
    their batches in an order of their own (seed + 1).
    """
    resolution = config.resolution or (32 if config.data == DIGITS else 224)
    splits = splits or build_datasets(config.data, resolution, config.val_fraction, config.seed)
    for name in splits.classes:  # the weight files store them: refused now, not at the first save
        problem = label_problem(name)
        if problem:
            raise DataError(
                f"{printable(config.data)}: the class folder '{printable(name)}' cannot name a class "
                f"in a weights file ({problem}); rename the folder"
            )
    check_batch_size(len(splits.train), config.batch_size, context.world_size)
    loaders = {
        name: make_loader(
            dataset,
            config.batch_size,
            train=train,
            seed=seed,
            rank=context.rank,
            world_size=context.world_size,
            workers=config.workers,
            pin_memory=context.device.type == "cuda",
        )
        for name, dataset, train, seed in (
            ("train", splits.train, True, config.seed),
            ("val", splits.val, False, config.seed),
            ("statistics", splits.train, True, config.seed + 1),
        )
    }
    return splits, resolution, loaders


def _open_records(step: StepContext, run_dir: Path, state: TrainState, resumed: bool) -> None:
    """Rank 0: the checkpoint manager, the metrics logger (continued on resume) and config.json."""
    config = step.config
    step.checkpoints = ckpt.CheckpointManager(run_dir / "checkpoints", config.keep_checkpoints)
    step.logger = MetricsLogger(
        run_dir,
        config.tensorboard,
        resume_step=state.global_step if resumed else None,
        resume_epoch=state.epoch if resumed else None,
    )
    step.run_config = config.to_dict()
    atomic_write_bytes(run_dir / "config.json", (json.dumps(step.run_config, indent=2) + "\n").encode())


def _configure_process(config: TrainConfig, context: DistributedContext) -> None:
    """Threads and determinism, before any kernel runs."""
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif context.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if config.sync_bn and context.enabled and context.device.type != "cuda":
        raise ValueError(
            "--sync-bn needs CUDA: PyTorch's SyncBatchNorm has no CPU kernel. Drop --sync-bn on CPU."
        )


def _describe(
    console: Console,
    config: TrainConfig,
    context: DistributedContext,
    model: MobileNet,
    recipe: Recipe,
    num_classes: int,
    resolution: int,
    steps_per_epoch: int,
) -> None:
    """The model and the recipe, as the run will use them."""
    cfg = model.config
    processes = f" x {context.world_size} processes" if context.enabled else ""
    console.print(
        f"model: {cfg.arch} α={cfg.width_mult:g} at {resolution} px, {num_classes} classes, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, on {context.device}{processes}"
    )
    console.print(
        f"recipe for {config.epochs} epochs x {steps_per_epoch} steps of {config.batch_size} images"
        + processes
        + " (derived unless given; see `mobilenets train --help`):\n"
        + recipe.describe(),
        highlight=False,
        markup=False,
    )


def _training_state(
    config: TrainConfig,
    recipe: Recipe,
    steps_per_epoch: int,
    autocast_dtype: torch.dtype | None,
    model: MobileNet,
    train_model: nn.Module,
    ema: AveragedModel | None,
) -> TrainState:
    """The optimizer, its schedule and the grad scaler around the model: step 0 of the run."""
    optimizer = build_optimizer(
        model,
        config.optimizer,
        recipe.lr,
        recipe.weight_decay,
        momentum=config.momentum,
        depthwise_decay=config.depthwise_decay,
        fused=True,
    )
    schedule = config.schedule_config(steps_per_epoch, recipe.warmup_steps)
    device = next(model.parameters()).device
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_dtype == torch.float16)
    return TrainState(model, train_model, optimizer, build_scheduler(optimizer, schedule), scaler, ema)


def _resume(
    config: TrainConfig,
    context: DistributedContext,
    console: Console,
    run_dir: Path,
    state: TrainState,
    steps_per_epoch: int,
) -> None:
    """Restore ``state`` from the newest checkpoint that loads, naming any that did not."""
    assert config.resume is not None
    candidates = ckpt.resume_candidates(config.resume, run_dir)
    path, saved, skipped = ckpt.load_newest(candidates, map_location=context.device)
    for reason in skipped:
        console.print(f"skipped an unreadable checkpoint: {reason}", highlight=False)
    restore_checkpoint(state, path, saved, config, context)
    console.print(
        f"resumed from {path}: epoch {state.epoch + 1}, step {state.step_in_epoch} of {steps_per_epoch}",
        highlight=False,
    )


# -- 6: one epoch ----------------------------------------------------------------------------------
def _run_epoch(run: Run) -> None:
    """Train, recompute BN statistics, evaluate (the EMA too), check BN, log, keep the best."""
    config, state = run.config, run.state
    run.train_loader.sampler.set_epoch(state.epoch, start=state.step_in_epoch * config.batch_size)  # type: ignore[attr-defined]
    started = time.perf_counter()
    train_loss = train_one_epoch(state, run.train_loader, run.step)
    state.train_seconds += time.perf_counter() - started
    if broadcast_flag(state.epoch_loss_count == 0, run.context):
        unreadable = {**run.splits.train.skipped, **run.splits.unreadable}
        example = next(iter(unreadable.items()), ("?", "?"))
        raise DataError(
            f"no training image could be decoded in epoch {state.epoch + 1} ({len(unreadable)} "
            f"unreadable, e.g. {example[0]}: {example[1]}); nothing was learned. Replace the "
            "broken files or point --data at another folder."
        )
    precise_bn_seconds = _recalibrate(run)
    result = run.evaluate(run.model)
    record = {
        "kind": "epoch",
        "step": state.global_step,
        "epoch": state.epoch + 1,
        "train_loss": train_loss,
        "val_loss": result.loss,
        "val_top1": result.top1,
        "val_top5": result.top5,
        "lr": state.optimizer.param_groups[0]["lr"],
        "train_seconds": state.train_seconds,
        "precise_bn_seconds": precise_bn_seconds,
    }
    chosen, chosen_model = result, run.model
    if run.ema is not None:
        ema_result = run.evaluate(run.ema.module)
        record.update(ema_top1=ema_result.top1, ema_top5=ema_result.top5)
        chosen, chosen_model = ema_result, cast(MobileNet, run.ema.module)
    _check_statistics(run, chosen_model, record)
    state.epoch, state.step_in_epoch = state.epoch + 1, 0
    is_best = chosen.top1 > state.best_top1
    if is_best:
        state.best_top1, state.best_epoch = chosen.top1, state.epoch
    run.step.progress.end_epoch(record, is_best)
    run.history.append(record)
    if run.context.is_main:
        _record_epoch(run, record, chosen, chosen_model, is_best)
    save_checkpoint(state, run.step.checkpoints, run.context, run.step.run_config, best=is_best)
    run.last_eval = chosen


def _recalibrate(run: Run) -> float:
    """Precise BN: statistics recomputed with the weights about to be evaluated and saved.

    Not while the backbone is frozen: its BatchNorms keep the pretrained statistics.

    Returns:
        The seconds it took.
    """
    started = time.perf_counter()
    batches = run.recipe.precise_bn_batches
    if batches and run.state.epoch >= run.config.freeze_epochs:
        run.statistics.recalibrate(run.model, run.state.epoch, batches)
        if run.ema is not None:
            run.statistics.recalibrate(run.ema.module, run.state.epoch, batches)
    seconds = time.perf_counter() - started
    broadcast_buffers(run.model, run.context)
    if run.ema is not None:
        broadcast_buffers(run.ema, run.context)
    return seconds


def _check_statistics(run: Run, chosen_model: MobileNet, record: dict[str, Any]) -> None:
    """BN check: the model that is reported and saved, on one training batch, normalized by the
    batch itself (as training sees it) and by the running statistics; warns once on a mismatch.

    A frozen backbone keeps its pretrained statistics on purpose: nothing to check then.
    """
    if run.state.epoch < run.config.freeze_epochs:
        return
    check = run.statistics.check(chosen_model, run.state.epoch)
    if check is None:
        return
    record.update(bn_check_batch_top1=check.batch_top1, bn_check_running_top1=check.running_top1)
    if not run.bn_warned and check.mismatched(len(run.splits.classes)):
        run.bn_warned = True
        if run.context.is_main:
            print(f"warning: {_statistics_advice(check, run.recipe, run.model)}", file=sys.stderr, flush=True)


def _record_epoch(
    run: Run, record: dict[str, Any], chosen: EvalResult, chosen_model: MobileNet, is_best: bool
) -> None:
    """Rank 0: the epoch's metrics; for a new best, its weights and confusion matrix."""
    assert run.step.logger is not None
    run.step.logger.log(record)
    if not is_best:
        return
    epoch, cfg = run.state.epoch, run.model.config
    _export(
        chosen_model, run.run_dir / "best.safetensors", run.splits.classes, f"mobilenets train, epoch {epoch}"
    )
    plot_confusion(
        chosen.confusion,
        run.splits.classes,
        run.run_dir / "confusion.png",
        f"{cfg.arch} α={cfg.width_mult:g}, epoch {epoch}: top-1 {100 * chosen.top1:.2f}%",
    )


# -- 7: finish -------------------------------------------------------------------------------------
def _finish(run: Run) -> FitResult:
    """The final weights, plots and summary, and proof that DDP kept every rank's weights equal."""
    context, state, run_dir = run.context, run.state, run.run_dir
    identical, digests = ranks_agree(run.model, context)
    if os.environ.get("MOBILENETS_PRINT_WEIGHTS_DIGEST"):
        print(
            f"weights digest rank {context.rank}: {digests[context.rank if context.enabled else 0]}",
            flush=True,
        )
    final = run.last_eval.summary() if run.last_eval is not None else {}
    if context.is_main:
        _write_final(run, final, identical, digests[0])
    # Every rank waits for rank 0's final writes: a rank that tore down the process group
    # while rank 0 was still busy made gloo abort (SIGABRT) on a loaded machine.
    barrier(context)
    return FitResult(
        run_dir,
        state.best_top1,
        state.best_epoch,
        final,
        state.train_seconds,
        run_dir / "best.safetensors",
        run_dir / "final.safetensors",
        identical,
        run.history,
    )


def _write_final(run: Run, final: dict[str, float], identical: bool, digest: str) -> None:
    """Rank 0: final.safetensors, curves.png, summary.json and the closing line."""
    state, run_dir, splits = run.state, run.run_dir, run.splits
    final_model = cast(MobileNet, run.ema.module) if run.ema is not None else run.model
    _export(
        final_model, run_dir / "final.safetensors", splits.classes, f"mobilenets train, final ({state.epoch})"
    )
    plot_curves(run_dir / "metrics.jsonl", run_dir / "curves.png")
    summary = {
        "best_top1": state.best_top1,
        "best_epoch": state.best_epoch,
        "final": final,
        "train_seconds": state.train_seconds,
        "precise_bn_seconds": sum(r["precise_bn_seconds"] for r in run.history),
        "world_size": run.context.world_size,
        "ranks_identical": identical,
        "weights_sha256": digest,
        "skipped_images": splits.unreadable | splits.train.skipped | splits.val.skipped,
    }
    atomic_write_bytes(run_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    if summary["skipped_images"]:  # now with those that failed to decode during training
        listing = json.dumps(summary["skipped_images"], indent=2) + "\n"
        atomic_write_bytes(run_dir / "skipped_images.json", listing.encode())
    if run.context.enabled:
        run.console.print(f"weights identical on all {run.context.world_size} ranks: {identical}")
    run.console.print(
        f"best top-1 {100 * state.best_top1:.2f}% (epoch {state.best_epoch}), "
        f"training time {format_duration(state.train_seconds)} (+ precise BN "
        f"{format_duration(summary['precise_bn_seconds'])}); files in {run_dir}"
    )


def _export(model: MobileNet, path: Path, classes: list[str], source: str) -> None:
    """The best weights as a mobilenets weight file, written atomically like a checkpoint."""
    was_training = model.training
    atomic_write_bytes(path, weights_bytes(model, labels=classes, source=source))
    model.train(was_training)


def _report_unreadable(unreadable: dict[str, str], run_dir: Path, shown: int = 20) -> None:
    """One line per unreadable image (the first ``shown``), and all of them in a file."""
    listing = run_dir / "skipped_images.json"
    atomic_write_bytes(listing, (json.dumps(unreadable, indent=2) + "\n").encode())
    for path, reason in list(unreadable.items())[:shown]:
        print(f"skipping unreadable image {printable(path)}: {reason}", file=sys.stderr, flush=True)
    more = len(unreadable) - shown
    print(
        f"{len(unreadable)} unreadable images skipped{f' ({more} more not shown)' if more > 0 else ''}; "
        f"all are listed in {listing}",
        file=sys.stderr,
        flush=True,
    )


def _statistics_advice(check: StatisticsCheck, recipe: Recipe, model: MobileNet) -> str:
    """The BN check's one-time warning: what is wrong and which flag fixes it."""
    fix = "Drop --no-precise-bn" if not recipe.precise_bn_batches else "Raise --precise-bn-batches"
    return (
        f"BatchNorm running statistics do not match the weights: on a training batch, top-1 is "
        f"{100 * check.running_top1:.0f}% with them (eval mode, as validation and the saved weights "
        f"use) but {100 * check.batch_top1:.0f}% with the batch's own (train mode), so validation "
        f"understates the model. {fix}, or raise --bn-momentum (now {model.config.bn_momentum:g}) "
        "so the running statistics follow the weights."
    )
