"""MobileNetV4 training presets: the published ImageNet recipes, as far as this trainer can run them.

Sources, and what each contributes:

- **TF Model Garden** (tensorflow/models, ``official/vision/configs/experiments/
  image_classification/imagenet_mobilenetv4_{conv_small,conv_medium,conv_large,hybrid_medium,
  hybrid_large}_tpu.yaml``): the configs the paper's authors published with their code. Every
  number below comes from them unless a line says otherwise. Their AdamW is
  ``AdamWeightDecay``, whose decay step is ``var -= lr * weight_decay_rate * var``: the same
  convention as ``torch.optim.AdamW``, so ``weight_decay_rate`` carries over as it is.
- **Ross Wightman, "MobileNet Baselines"** (Hugging Face blog, July 2024): the Conv-S recipe
  "brought the AdamW beta1 from the default 0.9 -> 0.6, taking it closer to RMSProp", with
  "fairly high dropout and augmentation" and 9600 epochs; timm reproduced 73.8% top-1 at 2400.
- **timm's weights** (Hugging Face ``timm/mobilenetv4_*``): the epoch counts in their tags
  (``e2400_r224``, ``e500_r256``, ``e600_r384`` ...) and the cards' note that they were trained
  "with hyper-parameters (mostly) similar to those in the paper". timm's own YAML files are
  announced in a gist of rwightman's; we could not read their contents, so no number here is
  taken from them, and where timm departs from the TF configs beyond the epoch count we do not
  know it.

Not found: the paper's own hyper-parameter table (we quote the TF configs instead).

What this trainer cannot run is kept in the preset as published and reported as ``unsupported``
when the preset is applied, never silently dropped: stochastic depth (our V4 blocks have no
drop-path; it would be a change to ``models/uib.py`` and ``models/mobile_mqa.py``), Mixup and
CutMix, RandAugment at magnitudes other than 9 or with a per-op probability (our
``randaugment`` is 2 ops at magnitude 9), Adam's epsilon 1e-6 (we keep PyTorch's 1e-8), the TF
BatchNorm settings (our V4 keeps timm's, whose weights exist), and a fixed EMA decay of 0.9999.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mobilenets.models.registry import parse_model_name

IMAGENET_TRAIN_IMAGES = 1_281_167
TF_CONFIG = "tensorflow/models official/vision/configs/experiments/image_classification/"


@dataclass(frozen=True)
class V4Preset:
    """One published V4 ImageNet recipe.

    Args:
        arch: the architecture it trains (width variants share it).
        source: where the numbers are written.
        global_batch: images per step over all devices.
        steps: optimizer steps of the whole run.
        lr: peak learning rate at ``global_batch``.
        adam_beta1: AdamW's beta1 (0.9 is the default; the Conv-S recipe lowers it).
        weight_decay: decoupled decay, in ``torch.optim.AdamW``'s convention.
        warmup_steps: linear warmup, in the source's steps.
        min_lr_ratio: the cosine schedule's floor (TF's ``alpha``).
        label_smoothing: as given.
        dropout: before the classifier.
        ema: whether the source keeps an EMA of the weights, and its decay there.
        randaugment: (magnitude, probability of applying each op; None: always).
        unsupported: settings of the source this trainer cannot apply, in words.
        timm_epochs: the epoch counts of timm's released weights for this model (their tags).
    """

    arch: str
    source: str
    global_batch: int
    steps: int
    lr: float
    adam_beta1: float
    weight_decay: float
    warmup_steps: int
    min_lr_ratio: float
    label_smoothing: float
    dropout: float
    ema: float | None
    randaugment: tuple[int, float | None]
    unsupported: tuple[str, ...] = field(default=())
    timm_epochs: tuple[int, ...] = field(default=())

    @property
    def steps_per_epoch(self) -> int:
        """Steps per ImageNet epoch at the source's batch (TF drops the last partial batch)."""
        return IMAGENET_TRAIN_IMAGES // self.global_batch

    @property
    def epochs(self) -> int:
        return round(self.steps / self.steps_per_epoch)

    @property
    def warmup_epochs(self) -> float:
        return self.warmup_steps / self.steps_per_epoch


# One row per model, each number from the TF config named in ``source`` (module docstring).
V4_PRESETS: dict[str, V4Preset] = {
    "mobilenet_v4_conv_small": V4Preset(
        arch="mobilenet_v4_conv_small",
        source=TF_CONFIG + "imagenet_mobilenetv4_conv_small_tpu.yaml (73.8% top-1 at ~9623 epochs)",
        global_batch=4096,
        steps=3_002_368,  # 9623 epochs of 312 steps
        lr=0.002,
        adam_beta1=0.6,  # also rwightman's "MobileNet Baselines": 0.9 -> 0.6
        weight_decay=0.01,
        warmup_steps=1560,  # 5 epochs
        min_lr_ratio=0.0,
        label_smoothing=0.1,
        dropout=0.3,
        ema=0.9999,
        randaugment=(9, 0.5),
        unsupported=("RandAugment op probability 0.5", "Adam epsilon 1e-6", "BN momentum 0.05, eps 1e-6"),
        timm_epochs=(1200, 2400),  # e1200_r224_in1k, e2400_r224_in1k
    ),
    "mobilenet_v4_conv_medium": V4Preset(
        arch="mobilenet_v4_conv_medium",
        source=TF_CONFIG + "imagenet_mobilenetv4_conv_medium_tpu.yaml (79.9% top-1 at 500 epochs)",
        global_batch=4096,
        steps=156_000,  # 500 epochs of 312 steps
        lr=0.004,
        adam_beta1=0.9,  # not set there: the optimizer's default
        weight_decay=0.1,
        warmup_steps=1560,  # 5 epochs
        min_lr_ratio=0.0,
        label_smoothing=0.1,
        dropout=0.2,
        ema=None,
        randaugment=(15, 0.7),
        unsupported=(
            "stochastic depth 0.075 (rising with depth)",
            "RandAugment magnitude 15, op probability 0.7",
        ),
        timm_epochs=(500,),  # e500_r224_in1k, e500_r256_in1k
    ),
    "mobilenet_v4_conv_large": V4Preset(
        arch="mobilenet_v4_conv_large",
        source=TF_CONFIG + "imagenet_mobilenetv4_conv_large_tpu.yaml (82.92% top-1 at 500 epochs)",
        global_batch=16384,
        steps=39_000,  # 500 epochs of 78 steps
        lr=0.004,
        adam_beta1=0.9,
        weight_decay=0.2,
        warmup_steps=1560,  # 20 epochs
        min_lr_ratio=0.0,
        label_smoothing=0.1,
        dropout=0.2,
        ema=None,
        randaugment=(15, None),
        unsupported=(
            "stochastic depth 0.2 (flat)",
            "RandAugment magnitude 15",
            "Mixup 0.8 / CutMix 1.0 on 20% of batches",
        ),
        timm_epochs=(500, 600),  # e500_r256_in1k, e600_r384_in1k
    ),
    "mobilenet_v4_hybrid_medium": V4Preset(
        arch="mobilenet_v4_hybrid_medium",
        source=TF_CONFIG + "imagenet_mobilenetv4_hybrid_medium_tpu.yaml (80.7% top-1 at 500 epochs)",
        global_batch=16384,
        steps=39_000,  # 500 epochs of 78 steps
        lr=0.016,
        adam_beta1=0.9,
        weight_decay=0.1,
        warmup_steps=1560,  # 20 epochs
        min_lr_ratio=0.0,
        label_smoothing=0.1,
        dropout=0.2,
        ema=None,
        randaugment=(15, 0.7),
        unsupported=(
            "stochastic depth 0.075 (rising with depth)",
            "RandAugment magnitude 15, op probability 0.7",
        ),
        timm_epochs=(500, 550),  # e500_r224_in1k, ix_e550_r256_in1k
    ),
    "mobilenet_v4_hybrid_large": V4Preset(
        arch="mobilenet_v4_hybrid_large",
        source=TF_CONFIG + "imagenet_mobilenetv4_hybrid_large_tpu.yaml (83.7% top-1 at 500 epochs)",
        global_batch=16384,
        steps=39_000,  # 500 epochs of 78 steps
        lr=0.01,
        adam_beta1=0.9,
        weight_decay=0.2,
        warmup_steps=1560,  # 20 epochs
        min_lr_ratio=0.001,  # the cosine's alpha
        label_smoothing=0.1,
        dropout=0.2,
        ema=None,
        randaugment=(15, None),
        unsupported=(
            "stochastic depth 0.35 (rising with depth)",
            "RandAugment magnitude 15",
            "Mixup 0.8 / CutMix 1.0 on 30% of batches",
        ),
        timm_epochs=(600,),  # e600_r384_in1k, ix_e600_r384_in1k
    ),
}
PRESET_NAMES = ("v4", *V4_PRESETS)


def find_preset(name: str, model: str) -> V4Preset:
    """The preset called ``name``; 'v4' picks the one for ``model``'s architecture.

    Raises:
        ValueError: an unknown preset, or a preset for another architecture than ``model``.
    """
    arch = parse_model_name(model)[0]
    if name == "v4":
        if arch not in V4_PRESETS:
            raise ValueError(
                f"--preset v4 needs a MobileNetV4 model, but --model is {model}; the presets are "
                f"for {', '.join(V4_PRESETS)}. Pick one of those, or drop --preset."
            )
        return V4_PRESETS[arch]
    if name not in V4_PRESETS:
        raise ValueError(f"--preset {name!r} is unknown; choose one of {', '.join(PRESET_NAMES)}")
    if arch != name:
        raise ValueError(
            f"--preset {name} is the recipe of {name}, but --model is {model}; use --preset v4 "
            "(the recipe of the model's own architecture) or a matching --model."
        )
    return V4_PRESETS[name]


def preset_settings(
    preset: V4Preset, batch_size: int, world_size: int = 1, epochs: int | None = None
) -> dict[str, object]:
    """``TrainConfig`` fields that carry ``preset`` over to a run of ``batch_size`` x ``world_size``.

    The learning rate scales with the square root of the global batch (our AdamW rule,
    ``recipe.py``; timm scales its ``lr_base`` the same way). The epochs and schedule are the
    source's. Its warmup (1560 steps: 5 or 20 epochs) is kept only for a run of the source's
    length; a shorter ``epochs`` gets our derived warmup (5% of the steps), since 5 epochs of a
    9623-epoch run would be the whole of a short one. The EMA is turned on where the source
    keeps one, with its decay derived from the run (0.9999 averages over about 10,000 steps,
    more than a short run has).
    """
    global_batch = batch_size * world_size
    settings: dict[str, object] = {
        "optimizer": "adamw",
        "momentum": preset.adam_beta1,  # AdamW's beta1 (see ``optim.build_optimizer``)
        "lr": preset.lr * math.sqrt(global_batch / preset.global_batch),
        "weight_decay": preset.weight_decay,
        "epochs": preset.epochs,
        "schedule": "cosine",
        "min_lr_ratio": preset.min_lr_ratio,
        "label_smoothing": preset.label_smoothing,
        "dropout": preset.dropout,
        "augment": "randaugment",
        "ema": preset.ema is not None,
    }
    if epochs is None or epochs == preset.epochs:
        settings["warmup_epochs"] = preset.warmup_epochs
    return settings


def describe_preset(preset: V4Preset, applied: dict[str, object], given: set[str]) -> str:
    """Lines printed before a run: what the preset set, what the command line kept, what is missing."""
    shown = ", ".join(
        f"{key}={_short(value)}" + (" (given)" if key in given else "") for key, value in applied.items()
    )
    lines = [f"preset {preset.arch}: {shown}", f"  source: {preset.source}"]
    if preset.unsupported:
        lines.append(f"  unsupported here: {'; '.join(preset.unsupported)}")
    if preset.timm_epochs:
        epochs = ", ".join(str(e) for e in preset.timm_epochs)
        lines.append(f"  timm's weights for this model were trained {epochs} epochs")
    return "\n".join(lines)


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
