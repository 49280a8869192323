"""The settings that must scale with the run, derived from its length and batch size.

A recipe written for ImageNet (thousands of steps an epoch, hundreds of epochs) breaks on a
user's folder of a few hundred images (a handful of steps an epoch, a few hundred in all), and
the other way round. So every setting whose right value depends on the run is left unset in
``TrainConfig`` (``None``) and derived here from the steps the run will take:

- **learning rate** against the global batch: linear scaling for SGD and RMSprop (Goyal et al.
  2017, "Accurate, large minibatch SGD"), square-root scaling for AdamW (Malladi et al. 2022),
  from a reference value at batch 64 (for SGD, V2's and V4's is a quarter of V1's and V3's: at
  V1's they diverge); a tenth of it when fine-tuning pretrained weights.
- **weight decay** against the number of steps: the normalized weight decay of Loshchilov &
  Hutter (2019, "Decoupled weight decay regularization", section B.1), ``λ = λ_norm / √steps``:
  a short run needs more decay per step for the same total effect. ``λ_norm`` is set so that the
  `make demo` run (735 steps) gets the 5e-4 it was tuned to on the digits; long runs never go
  below the papers' 4e-5 (ImageNet at 90 epochs would get 2e-5).
- **warmup**: 5% of the steps, at most 5 epochs (Goyal et al. warm up 5 epochs of 90).
- **BatchNorm momentum**: the running averages must forget within an epoch, or the statistics
  saved with the weights belong to older weights; ``1 / steps_per_epoch``, never below the
  family's own default nor above PyTorch's 0.1.
- **EMA decay** (with ``--ema``): the average spans 5% of the steps (at least 10): long enough to smooth the
  noise of single steps, short enough to follow the weights through the run.
- **precise BN**: before each evaluation and each weights file, the running statistics are
  recomputed over a quarter of an epoch's training images, at least 256 and at most 1,024 per
  process (``precise_bn.py``). Per-channel means and variances over 256 images are already
  exact to a few percent of the spread even where the maps are 2x2, and a quarter epoch of
  forward passes costs about a twelfth of the epoch's training steps.

Anything the user sets explicitly is used as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REFERENCE_BATCH = 64
# Peak learning rate at REFERENCE_BATCH images per step. SGD: the V1 demo's value
# (torchvision's classification recipes use the same 0.1, but at a batch of 256); RMSprop:
# timm's MobileNetV3 recipe (0.064 at 512), scaled; AdamW: the common from-scratch CNN value.
REFERENCE_LR = {"sgd": 0.1, "rmsprop": 0.008, "adamw": 1e-3}
# SGD's reference for the families that diverge at 0.1: a quarter of it, which is also
# torchvision's reference value (0.1 at a global batch of 256) scaled to batch 64. On the
# textures and filters sets of benchmarks/unseen_datasets.py (15 epochs at 64 px, 2-3 seeds
# each), V2 and V4 Conv-S at 0.1 drove their epoch training loss to 1.2-2.3 times the first
# epoch's in every run and ended 5-11 points of mean top-1 behind 0.05 and 0.025. Those two
# were within a point of each other; 0.025 is the one at which the loss never climbed back
# above the first epoch's (0.05: up to 1.85 times, on filters). V1 keeps 0.1: at α 0.5, 0.05
# lost 0.6-6 points on all three sets (benchmarks/results/unseen_data.md); at α 1.0 it won on
# both sets with 2 seeds, so V1's rate may need to follow its width (not settled). V3 did not
# diverge at 0.1. Two warmup epochs at 0.1 did not help V4. The runs, and the photos set the
# new values were judged on: benchmarks/results/family_learning_rate.md.
SGD_REFERENCE_LR_BY_FAMILY = {"v2": 0.025, "v4": 0.025}
FINE_TUNE_LR_FACTOR = 0.1
NORMALIZED_WEIGHT_DECAY = 5e-4 * math.sqrt(735)  # the demo's tuned decay at its step count
MIN_WEIGHT_DECAY = 4e-5  # the V1-V3 papers' ImageNet value
WARMUP_FRACTION, WARMUP_MAX_EPOCHS = 0.05, 5.0
EMA_FRACTION, EMA_MIN_STEPS = 0.05, 10
MAX_BN_MOMENTUM = 0.1
PRECISE_BN_SHARE, PRECISE_BN_MIN_IMAGES, PRECISE_BN_MAX_IMAGES = 0.25, 256, 1024


@dataclass(frozen=True)
class Recipe:
    """The resolved values, each with the reason it was chosen (printed at the start of a run)."""

    lr: float
    weight_decay: float
    warmup_steps: int
    bn_momentum: float
    ema_decay: float | None
    precise_bn_batches: int
    reasons: dict[str, str]

    def describe(self) -> str:
        """One line per setting: value and why."""
        return "\n".join(f"  {name}: {reason}" for name, reason in self.reasons.items())


def resolve(
    *,
    family: str,
    family_bn_momentum: float,
    optimizer: str,
    batch_size: int,
    world_size: int,
    steps_per_epoch: int,
    epochs: int,
    pretrained: bool = False,
    lr: float | None = None,
    weight_decay: float | None = None,
    warmup_epochs: float | None = None,
    bn_momentum: float | None = None,
    ema: bool = False,
    ema_decay: float | None = None,
    precise_bn: bool = True,
    precise_bn_batches: int | None = None,
) -> Recipe:
    """Fill in every unset, run-dependent setting.

    Args:
        family: the model family ('v1' ... 'v4'); V2 and V4 train with a lower SGD learning rate.
        family_bn_momentum: the model family's own BN momentum, the floor of the derived one.
        optimizer: 'sgd', 'rmsprop' or 'adamw'.
        batch_size: images per step per process.
        world_size: processes (the global batch is ``batch_size * world_size``).
        steps_per_epoch: optimizer steps per epoch.
        epochs: epochs of the run.
        pretrained: fine-tuning rather than training from scratch.
        lr, weight_decay, warmup_epochs, bn_momentum, ema_decay, precise_bn_batches: the user's values, or
            None to derive them.
        ema: keep an EMA of the weights (a given ``ema_decay`` implies it).
        precise_bn: recompute BatchNorm statistics before evaluating and saving.

    Returns:
        The values and the reasons.
    """
    total = max(1, steps_per_epoch * epochs)
    reasons: dict[str, str] = {}
    lr, reasons["lr"] = _lr(lr, optimizer, family, batch_size * world_size, pretrained)
    weight_decay, reasons["weight_decay"] = _weight_decay(weight_decay, total)
    warmup_steps, reasons["warmup"] = _warmup_steps(warmup_epochs, total, steps_per_epoch)
    bn_momentum, reasons["bn_momentum"] = _bn_momentum(bn_momentum, family_bn_momentum, steps_per_epoch)
    ema_decay, reasons["ema"] = _ema_decay(ema_decay, ema, total)
    precise_bn_batches, reasons["precise_bn"] = _precise_bn_batches(
        precise_bn_batches, precise_bn, steps_per_epoch, batch_size
    )
    return Recipe(lr, weight_decay, warmup_steps, bn_momentum, ema_decay, precise_bn_batches, reasons)


# Each rule below returns (value, the reason shown to the user); a given value is kept as is.
def _lr(
    lr: float | None, optimizer: str, family: str, global_batch: int, pretrained: bool
) -> tuple[float, str]:
    if lr is not None:
        return lr, f"{lr:.4g} (given)"
    reference = REFERENCE_LR[optimizer]
    whose = optimizer
    if optimizer == "sgd" and family in SGD_REFERENCE_LR_BY_FAMILY:
        reference, whose = SGD_REFERENCE_LR_BY_FAMILY[family], f"sgd, {family.upper()}"
    ratio = global_batch / REFERENCE_BATCH
    scale = math.sqrt(ratio) if optimizer == "adamw" else ratio
    lr = reference * scale * (FINE_TUNE_LR_FACTOR if pretrained else 1.0)
    rule = "√" if optimizer == "adamw" else ""
    tune = f" × {FINE_TUNE_LR_FACTOR:g} (fine-tuning)" if pretrained else ""
    return lr, (
        f"{lr:.4g} = {reference:g} ({whose} at batch {REFERENCE_BATCH}) × "
        f"{rule}({global_batch}/{REFERENCE_BATCH}){tune}"
    )


def _weight_decay(weight_decay: float | None, total: int) -> tuple[float, str]:
    if weight_decay is not None:
        return weight_decay, f"{weight_decay:g} (given)"
    weight_decay = max(MIN_WEIGHT_DECAY, NORMALIZED_WEIGHT_DECAY / math.sqrt(total))
    return weight_decay, (
        f"{weight_decay:.3g} = {NORMALIZED_WEIGHT_DECAY:.4g} / √{total} steps (at least {MIN_WEIGHT_DECAY:g})"
    )


def _warmup_steps(warmup_epochs: float | None, total: int, steps_per_epoch: int) -> tuple[int, str]:
    if warmup_epochs is not None:
        steps = round(warmup_epochs * steps_per_epoch)
        return steps, f"{steps} steps = {warmup_epochs:g} epochs (given)"
    steps = round(min(WARMUP_FRACTION * total, WARMUP_MAX_EPOCHS * steps_per_epoch))
    return (
        steps,
        f"{steps} steps = {WARMUP_FRACTION:.0%} of {total} steps (at most {WARMUP_MAX_EPOCHS:g} epochs)",
    )


def _bn_momentum(bn_momentum: float | None, floor: float, steps_per_epoch: int) -> tuple[float, str]:
    if bn_momentum is not None:
        return bn_momentum, f"{bn_momentum:g} (given)"
    bn_momentum = min(MAX_BN_MOMENTUM, max(floor, 1.0 / max(1, steps_per_epoch)))
    return bn_momentum, (
        f"{bn_momentum:.3g}: forgets within an epoch of {steps_per_epoch} steps "
        f"(1/steps, between the family's {floor:g} and {MAX_BN_MOMENTUM:g})"
    )


def _ema_decay(ema_decay: float | None, ema: bool, total: int) -> tuple[float | None, str]:
    if ema_decay is not None:
        return ema_decay, f"decay {ema_decay:g} (given)"
    if not ema:
        return None, "off (--ema keeps one)"
    horizon = max(EMA_MIN_STEPS, EMA_FRACTION * total)
    ema_decay = 1.0 - 1.0 / horizon
    return ema_decay, (
        f"decay {ema_decay:.6g}: averages over ~{horizon:.0f} steps = {EMA_FRACTION:.0%} of "
        f"{total} (at least {EMA_MIN_STEPS})"
    )


def _precise_bn_batches(
    batches: int | None, precise_bn: bool, steps_per_epoch: int, batch_size: int
) -> tuple[int, str]:
    if not precise_bn:
        return 0, "off: evaluations and files use the running BatchNorm statistics"
    if batches is not None:
        return batches, f"{batches} batches (given)"
    # Per process: rank 0's statistics are the ones every rank keeps (broadcast), so rank 0
    # alone must see enough images.
    epoch_images = steps_per_epoch * batch_size
    images = min(PRECISE_BN_MAX_IMAGES, max(PRECISE_BN_MIN_IMAGES, PRECISE_BN_SHARE * epoch_images))
    batches = max(1, min(steps_per_epoch, math.ceil(images / batch_size)))
    # Say which bound decided, so that a small folder is not promised images it does not have.
    if batches == steps_per_epoch and images > epoch_images:
        why = f"the whole epoch: it has fewer than the {PRECISE_BN_MIN_IMAGES} images wanted"
    elif images == PRECISE_BN_MIN_IMAGES:
        why = f"at least {PRECISE_BN_MIN_IMAGES} images, over {PRECISE_BN_SHARE:.0%} of this epoch"
    elif images == PRECISE_BN_MAX_IMAGES:
        why = f"{PRECISE_BN_SHARE:.0%} of an epoch, capped at {PRECISE_BN_MAX_IMAGES:,} images"
    else:
        why = f"{PRECISE_BN_SHARE:.0%} of an epoch"
    return batches, (
        f"{batches} training {'batch' if batches == 1 else 'batches'} (up to "
        f"{batches * batch_size:,} images) {'recomputes' if batches == 1 else 'recompute'} the "
        "BatchNorm statistics before each "
        f"evaluation and weights file ({why})"
    )
