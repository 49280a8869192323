"""timm ``mobilenetv4_*`` -> mobilenets: names, tensor names, published preprocessing, twins.

timm builds MobileNetV4 with its EfficientNet builder, so the layout is the one ``timm.py``
describes (``conv_stem`` / ``bn1``, ``blocks.<stage>.<index>``, ``classifier``) with V4's own
blocks and head:

- ``ConvBnAct`` (``conv`` / ``bn1``): Conv-S's first stages, and every model's last block, the
  1x1 conv to 960 (our ``final_conv``);
- ``EdgeResidual``, the FusedIB (``conv_exp`` / ``bn1``, ``conv_pwl`` / ``bn2``);
- ``UniversalInvertedResidual``, the UIB (``dw_start``, ``pw_exp``, ``dw_mid``, ``pw_proj``, each
  ``.conv`` / ``.bn``, and ``layer_scale.gamma`` in the hybrids);
- ``MobileAttention``, Mobile MQA (``norm``, ``attn.query.proj``, ``attn.key.down_conv`` /
  ``attn.key.norm`` / ``attn.key.proj``, the same for ``value``, ``attn.output.proj``,
  ``layer_scale.gamma``);
- the head: ``conv_head`` + ``norm_head``, the 1x1 conv to 1280 with BN after pooling (our
  ``head_conv``). ``norm_head`` exists only in V4, which is how a V4 state dict is recognised.

Anti-aliased twins: ``mobilenetv4_conv_aa_medium`` and ``mobilenetv4_conv_aa_large`` run every
stride-2 block conv at stride 1 and then a 2x2 average pool; ``mobilenetv4_conv_blur_medium``
a 3x3 blur pool (our ``mobilenet_v4_conv_aa_medium`` ... with the same names). Those pools have
no weights, so their state dicts are those of ``mobilenetv4_conv_medium`` / ``_conv_large``
exactly, while the network computes something else: an unnamed Conv-M or Conv-L file is
ambiguous, and ``convert_timm`` asks which model it is instead of guessing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import torch

from mobilenets.models.preprocess import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD
from mobilenets.weights.state_fit import ConversionError

_NAME = re.compile(
    r"mobilenetv4_(conv_small|conv_medium|conv_large|hybrid_medium|hybrid_large"
    r"|conv_aa_medium|conv_blur_medium|conv_aa_large)(?:_(\d{3}))?"
)
# The plain models whose state dicts the anti-aliased variants share, tensor for tensor.
TWINS = {
    "mobilenetv4_conv_medium": ("mobilenetv4_conv_aa_medium", "mobilenetv4_conv_blur_medium"),
    "mobilenetv4_conv_large": ("mobilenetv4_conv_aa_large",),
}

# timm's pretrained configs (``default_cfgs`` in timm/models/mobilenetv3.py): for each published
# tag, its input size, evaluation crop and normalisation; all resize bicubic. A model's first tag
# is timm's default for it (what a name without a tag means). 'untrained' tags have no weights
# but set the defaults; the in12k tags (11,821 classes) convert too, without ImageNet labels.
_INCEPTION, _IMAGENET = "inception", "imagenet"
TIMM_V4_TAGS: dict[str, tuple[int, float, str]] = {
    "mobilenetv4_conv_small.e2400_r224_in1k": (224, 0.875, _IMAGENET),
    "mobilenetv4_conv_small.e1200_r224_in1k": (224, 0.875, _IMAGENET),
    "mobilenetv4_conv_small.e3600_r256_in1k": (256, 0.95, _INCEPTION),
    "mobilenetv4_conv_small_035.untrained": (224, 0.875, _INCEPTION),
    "mobilenetv4_conv_small_050.e3000_r224_in1k": (224, 0.875, _INCEPTION),
    "mobilenetv4_conv_medium.e500_r256_in1k": (256, 0.95, _IMAGENET),
    "mobilenetv4_conv_medium.e500_r224_in1k": (224, 0.95, _IMAGENET),
    "mobilenetv4_conv_medium.e250_r384_in12k_ft_in1k": (384, 0.95, _IMAGENET),
    "mobilenetv4_conv_medium.e180_r384_in12k": (384, 1.0, _IMAGENET),
    "mobilenetv4_conv_medium.e180_ad_r384_in12k": (384, 1.0, _IMAGENET),
    "mobilenetv4_conv_medium.e250_r384_in12k": (384, 1.0, _IMAGENET),
    "mobilenetv4_conv_large.e600_r384_in1k": (384, 0.95, _IMAGENET),
    "mobilenetv4_conv_large.e500_r256_in1k": (256, 0.95, _IMAGENET),
    "mobilenetv4_hybrid_medium.e200_r256_in12k_ft_in1k": (256, 0.95, _IMAGENET),
    "mobilenetv4_hybrid_medium.ix_e550_r256_in1k": (256, 0.95, _IMAGENET),
    "mobilenetv4_hybrid_medium.ix_e550_r384_in1k": (384, 0.95, _IMAGENET),
    "mobilenetv4_hybrid_medium.e500_r224_in1k": (224, 0.95, _IMAGENET),
    "mobilenetv4_hybrid_medium.e200_r256_in12k": (256, 0.95, _IMAGENET),
    "mobilenetv4_hybrid_medium_075.untrained": (224, 0.95, _IMAGENET),
    "mobilenetv4_hybrid_large.ix_e600_r384_in1k": (384, 0.95, _IMAGENET),
    "mobilenetv4_hybrid_large.e600_r384_in1k": (384, 0.95, _IMAGENET),
    "mobilenetv4_hybrid_large_075.untrained": (256, 0.95, _IMAGENET),
    "mobilenetv4_conv_aa_medium.untrained": (256, 0.95, _IMAGENET),
    "mobilenetv4_conv_blur_medium.e500_r224_in1k": (224, 0.95, _IMAGENET),
    "mobilenetv4_conv_aa_large.e230_r448_in12k_ft_in1k": (448, 0.95, _IMAGENET),
    "mobilenetv4_conv_aa_large.e230_r384_in12k_ft_in1k": (384, 0.95, _IMAGENET),
    "mobilenetv4_conv_aa_large.e600_r384_in1k": (384, 0.95, _IMAGENET),
    "mobilenetv4_conv_aa_large.e230_r384_in12k": (384, 0.95, _IMAGENET),
}

# Parts of each timm block kind -> ours, longest timm name first where one prefixes another.
_PARTS = {
    "cn": {"conv": "conv", "bn1": "bn"},
    "er": {"conv_exp": "expand.conv", "bn1": "expand.bn", "conv_pwl": "project.conv", "bn2": "project.bn"},
    "uir": {"dw_start": "start_dw", "pw_exp": "expand", "dw_mid": "mid_dw", "pw_proj": "project",
            "layer_scale": "layer_scale"},
    "mqa": {"norm": "norm", "attn.query.proj": "query", "attn.key.down_conv": "key_down.conv",
            "attn.key.norm": "key_down.bn", "attn.key.proj": "key", "attn.value.down_conv": "value_down.conv",
            "attn.value.norm": "value_down.bn", "attn.value.proj": "value", "attn.output.proj": "output",
            "layer_scale": "layer_scale"},
}  # fmt: skip
# The key that tells each block kind apart.
_KIND_BY_KEY = (
    ("conv_exp.weight", "er"),
    ("conv.weight", "cn"),
    ("pw_exp.conv.weight", "uir"),
    ("attn.query.proj.weight", "mqa"),
)
_TOP = {"conv_stem": "stem.conv", "bn1": "stem.bn", "conv_head": "head_conv.conv",
        "norm_head": "head_conv.bn", "classifier": "classifier"}  # fmt: skip


def looks_like_timm_v4(state: dict[str, torch.Tensor]) -> bool:
    """True for a timm MobileNetV4 state dict: the only timm MobileNet with a BN after its head conv."""
    return "norm_head.weight" in state or "norm_head.running_var" in state


def v4_arch_from_name(model_name: str) -> tuple[str, float] | None:
    """Our architecture and width for 'mobilenetv4_conv_small_050' (-> Conv-S, 0.5), else None."""
    match = _NAME.fullmatch(model_name.split(".")[0])
    if match is None:
        return None
    return f"mobilenet_v4_{match[1]}", int(match[2]) / 100 if match[2] else 1.0


def v4_candidates(arch: str, width: float) -> tuple[str, ...]:
    """The timm models whose weights have the structure of our V4 ``arch`` at ``width``.

    Conv-M and Conv-L at width 1.0 share their tensors with the anti-aliased variants (several
    candidates: nothing can tell them apart); other shapes come from one timm model, or none
    when timm has no such width.
    """
    percent = "" if width == 1.0 else f"_{round(width * 100):03d}"
    name = f"mobilenetv4_{arch.removeprefix('mobilenet_v4_')}{percent}"
    for plain, twins in TWINS.items():
        if name == plain or name in twins:
            return (plain, *twins)
    known = {tag.split(".")[0] for tag in TIMM_V4_TAGS}
    return (name,) if name in known else ()


def v4_ambiguity_message(where: str, candidates: tuple[str, ...]) -> str:
    """The one-line refusal for Conv-M / Conv-L weights that nothing names (no newline in it)."""
    plain, twins = candidates[0], candidates[1:]
    return (
        f"{where}: these timm weights fit {plain} and its anti-aliased variant"
        f"{'s' if len(twins) > 1 else ''} {' and '.join(twins)}: the same tensors, but the "
        "variants run their stride-2 convs at stride 1 followed by a 2x2 average pool (aa) or a "
        "blur pool (blur), so each computes something else; and nothing names the model (no "
        "--timm-model, no model name in the file, no config.json beside it). mobilenets does not "
        f"guess: pick one with --timm-model NAME ({' or '.join(f'--timm-model {n}' for n in candidates)}, "
        f"or with a tag such as --timm-model {next(t for t in TIMM_V4_TAGS if t.startswith(plain + '.'))}; "
        "timm_model=NAME in Python), or put the model's timm config.json beside the file."
    )


def v4_preprocess(model_name: str | None) -> dict[str, Any]:
    """The preprocessing timm publishes for a V4 model name, with or without its tag.

    A name without a tag takes timm's default tag for that model; None (a width timm does not
    have) takes the V4 family's: ImageNet statistics, bicubic, 87.5 % crop, the paper's size.

    Raises:
        ConversionError: a tag timm does not publish (tags change the statistics, so the
            default tag's would be a guess); lists the model's tags.
    """
    fields: dict[str, Any] = {"interpolation": "bicubic", "crop_pct": 0.875}
    if model_name is None:
        return fields
    base, _, tag = model_name.partition(".")
    tags = [name for name in TIMM_V4_TAGS if name.split(".")[0] == base]
    if tag and model_name not in TIMM_V4_TAGS:
        raise ConversionError(
            f"timm model {model_name!r}: timm publishes no tag {tag!r} for {base} "
            f"(known: {', '.join(t.split('.', 1)[1] for t in tags) or 'none'}); its input size, "
            f"crop and statistics are unknown. Give one of those tags, the name alone ({base}: "
            "timm's default tag), or the config.json timm keeps beside the weights."
        )
    chosen = model_name if tag else next(iter(tags), None)
    if chosen is None:
        return fields
    size, crop_pct, stats = TIMM_V4_TAGS[chosen]
    inception = stats == _INCEPTION
    fields.update(
        input_size=(3, size, size),
        crop_pct=crop_pct,
        mean=INCEPTION_MEAN if inception else IMAGENET_MEAN,
        std=INCEPTION_STD if inception else IMAGENET_STD,
    )
    return fields


def map_timm_v4(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a timm MobileNetV4 state dict onto our module names.

    timm's blocks, stage by stage (numerically: safetensors files list 'blocks.2.10' before
    'blocks.2.2'), become ``blocks.0``, ``blocks.1``, ...; the very last one, the 1x1
    ``ConvBnAct`` to 960, becomes ``final_conv``.

    Raises:
        ConversionError: a key that belongs to no V4 part.
    """
    blocks: dict[tuple[int, int], dict[str, torch.Tensor]] = defaultdict(dict)
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = re.match(r"blocks\.(\d+)\.(\d+)\.(.+)$", key)
        if match:
            blocks[(int(match[1]), int(match[2]))][match[3]] = value
            continue
        part, _, suffix = key.partition(".")
        if part not in _TOP:
            raise ConversionError(f"unexpected timm key {key!r}; is this a timm MobileNetV4?")
        mapped[f"{_TOP[part]}.{suffix}"] = value
    ordered = [blocks[position] for position in sorted(blocks)]
    if not ordered or "conv.weight" not in ordered[-1]:
        raise ConversionError("a timm MobileNetV4 ends with a 1x1 ConvBnAct (to 960); this one does not")
    for index, block in enumerate(ordered):
        prefix = "final_conv" if index == len(ordered) - 1 else f"blocks.{index}"
        kind = next((name for key, name in _KIND_BY_KEY if key in block), "")
        if not kind:
            raise ConversionError(f"timm block {index} ({', '.join(sorted(block)[:3])}...) is no V4 block")
        parts = sorted(_PARTS[kind], key=len, reverse=True)
        for key, value in block.items():
            ours = next((p for p in parts if key.startswith(p + ".")), None)
            if ours is None:
                raise ConversionError(f"unexpected part {key!r} in timm V4 block {index} ({kind})")
            mapped[f"{prefix}.{_PARTS[kind][ours]}{key[len(ours) :]}"] = value
    return mapped
