"""timm ``mobilenetv1_*``, ``mobilenetv2_*``, ``mobilenetv3_*`` and ``tf_mobilenetv3_*`` -> mobilenets.

timm's EfficientNet-family layout (``timm/models/_efficientnet_blocks.py``):

- ``conv_stem`` + ``bn1``: the stem;
- ``blocks.<stage>.<index>``: one block each, with named parts. An inverted residual has
  ``conv_pw`` / ``bn1`` (expand), ``conv_dw`` / ``bn2``, ``se.conv_reduce`` / ``se.conv_expand``,
  ``conv_pwl`` / ``bn3`` (project). A depthwise-separable block (V1's, and the first block of
  V2/V3) has ``conv_dw`` / ``bn1``, optional SE, ``conv_pw`` / ``bn2``. V3 ends with a
  ``ConvBnAct`` stage (``conv`` / ``bn1``), the 960 / 576 conv;
- V2: ``conv_head`` + ``bn2`` is the last 1x1 conv; V3: ``conv_head`` (with bias, after
  pooling) is the 1280 / 1024 hidden layer;
- ``classifier``.

``tf_`` models were ported from TF checkpoints: they need TF 'SAME' padding and BN eps 1e-3.
timm's own models use symmetric padding and BN eps 1e-5. A timm safetensors file downloaded
from the Hugging Face hub comes with a ``config.json`` naming the architecture and its
preprocessing; when it sits next to the weights, it is used.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from mobilenets.convert.common import ConversionError, Converted, fix_up, infer_config
from mobilenets.preprocess import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD, PreprocessConfig

# timm model-name prefix -> (our architecture, activation for V1).
_TIMM_ARCHS = (
    ("tf_mobilenetv3_large_minimal_", "mobilenet_v3_large_minimal"),
    ("tf_mobilenetv3_small_minimal_", "mobilenet_v3_small_minimal"),
    ("tf_mobilenetv3_large_", "mobilenet_v3_large"),
    ("tf_mobilenetv3_small_", "mobilenet_v3_small"),
    ("mobilenetv3_large_", "mobilenet_v3_large"),
    ("mobilenetv3_small_", "mobilenet_v3_small"),
    ("mobilenetv2_", "mobilenet_v2"),
    ("mobilenetv1_", "mobilenet_v1"),
)
# Variants whose structure our paper-table builder does not reproduce, and why.
UNSUPPORTED = {
    "mobilenetv1_100h": "adds a 1x1 conv head (1024) after the body, which MobileNetV1 does not have",
    "mobilenetv2_110d": "the 'd' variants deepen stages (depth multiplier on repeats)",
    "mobilenetv2_120d": "the 'd' variants deepen stages (depth multiplier on repeats)",
    "mobilenetv3_rw": "timm's early V3 re-implementation: no residual in the first block, a bias-free "
    "head layer and SE with unrounded widths; not the paper's network",
    "mobilenetv3_large_150d": "the 'd' variant deepens stages (depth multiplier on repeats)",
    "mobilenetv3_small_050": "timm keeps the stem at 16 channels below width 0.75; the paper scales it",
}
# Published preprocessing of timm's pretrained tags (timm's ``default_cfgs``), for files that
# come without a config.json. Unlisted models use timm's default: ImageNet statistics, bilinear.
TIMM_PREPROCESS: dict[str, dict[str, Any]] = {
    "mobilenetv1_100": {"mean": INCEPTION_MEAN, "std": INCEPTION_STD, "crop_pct": 0.875},
    "mobilenetv1_125": {"mean": INCEPTION_MEAN, "std": INCEPTION_STD, "crop_pct": 0.9},
    "mobilenetv2_050": {"interpolation": "bicubic"},
    "mobilenetv3_large_100": {"interpolation": "bicubic"},
    "mobilenetv3_small_075": {"interpolation": "bicubic"},
    "mobilenetv3_small_100": {"interpolation": "bicubic"},
    "tf_mobilenetv3_large_075": {"mean": INCEPTION_MEAN, "std": INCEPTION_STD},
    "tf_mobilenetv3_large_100": {"mean": INCEPTION_MEAN, "std": INCEPTION_STD},
    "tf_mobilenetv3_large_minimal_100": {"mean": INCEPTION_MEAN, "std": INCEPTION_STD},
    "tf_mobilenetv3_small_075": {"mean": INCEPTION_MEAN, "std": INCEPTION_STD},
    "tf_mobilenetv3_small_100": {"mean": INCEPTION_MEAN, "std": INCEPTION_STD},
    "tf_mobilenetv3_small_minimal_100": {"mean": INCEPTION_MEAN, "std": INCEPTION_STD},
}
_BLOCK_PARTS = {
    # part in a timm inverted residual -> ours
    "ir": {"conv_pw": "expand.conv", "bn1": "expand.bn", "conv_dw": "dw.conv", "bn2": "dw.bn",
           "conv_pwl": "project.conv", "bn3": "project.bn"},
    # depthwise-separable block as V1's block (pointwise with activation)
    "ds_v1": {"conv_dw": "dw.conv", "bn1": "dw.bn", "conv_pw": "pw.conv", "bn2": "pw.bn"},
    # depthwise-separable block as the first (expansion 1) block of V2/V3
    "ds": {"conv_dw": "dw.conv", "bn1": "dw.bn", "conv_pw": "project.conv", "bn2": "project.bn"},
}  # fmt: skip


def looks_like_timm(state: dict[str, torch.Tensor]) -> bool:
    """True for timm's EfficientNet-family key names (``conv_stem.weight``)."""
    return "conv_stem.weight" in state


def arch_from_timm_name(model_name: str) -> tuple[str, float]:
    """Our architecture and width for a timm model name ('mobilenetv3_large_075' -> V3-L, 0.75).

    Raises:
        ConversionError: an unsupported or unknown timm variant, with the reason.
    """
    base = model_name.split(".")[0]
    if base in UNSUPPORTED:
        raise ConversionError(f"timm's {base} is not supported: {UNSUPPORTED[base]}")
    for prefix, arch in _TIMM_ARCHS:
        if base.startswith(prefix) and re.fullmatch(r"\d{3}", base[len(prefix) :]):
            return arch, int(base[len(prefix) :]) / 100
    raise ConversionError(
        f"timm model {model_name!r} is not a MobileNet V1/V2/V3 that mobilenets can rebuild; "
        "supported: mobilenetv1_*, mobilenetv2_*, mobilenetv3_large/small_*, tf_mobilenetv3_*."
    )


def map_timm(state: dict[str, torch.Tensor], v1: bool) -> dict[str, torch.Tensor]:
    """Rename a timm MobileNet state dict onto our module names."""
    blocks: dict[tuple[int, int], dict[str, torch.Tensor]] = defaultdict(dict)
    top: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = re.match(r"blocks\.(\d+)\.(\d+)\.(.+)$", key)
        if match:
            blocks[(int(match.group(1)), int(match.group(2)))][match.group(3)] = value
        else:
            top[key] = value
    mapped: dict[str, torch.Tensor] = {}
    v3 = top.get("conv_head.weight") is not None and "bn2.weight" not in top
    ordered = [blocks[key] for key in sorted(blocks)]
    if ordered and "conv.weight" in ordered[-1]:  # V3's final ConvBnAct stage
        final = ordered.pop()
        for key, value in final.items():
            part, suffix = key.split(".", 1)
            mapped[f"final_conv.{'conv' if part == 'conv' else 'bn'}.{suffix}"] = value
    for index, block in enumerate(ordered):
        kind = "ir" if "conv_pwl.weight" in block else ("ds_v1" if v1 else "ds")
        for key, value in block.items():
            part, suffix = key.split(".", 1)
            if part == "se":
                se_part, se_suffix = suffix.split(".", 1)
                ours = {"conv_reduce": "reduce", "conv_expand": "expand"}[se_part]
                mapped[f"blocks.{index}.se.{ours}.{se_suffix}"] = value
            elif part in _BLOCK_PARTS[kind]:
                mapped[f"blocks.{index}.{_BLOCK_PARTS[kind][part]}.{suffix}"] = value
            else:
                raise ConversionError(f"unexpected timm block part {part!r} in block {index}")
    for key, value in top.items():
        part, suffix = key.split(".", 1)
        if part == "conv_stem":
            mapped[f"stem.conv.{suffix}"] = value
        elif part == "bn1":
            mapped[f"stem.bn.{suffix}"] = value
        elif part == "conv_head":
            mapped[f"{'head_fc' if v3 else 'final_conv.conv'}.{suffix}"] = value
        elif part == "bn2":
            mapped[f"final_conv.bn.{suffix}"] = value
        elif part == "classifier":
            mapped[f"classifier.{suffix}"] = value
        else:
            raise ConversionError(f"unexpected timm key {key!r}; is this a timm MobileNet?")
    return mapped


def read_hub_config(weights_path: str | Path) -> dict[str, Any]:
    """The ``config.json`` a Hugging Face timm repo keeps next to its weights, if present."""
    config_path = Path(weights_path).with_name("config.json")
    if not config_path.is_file():
        return {}
    try:
        data = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def timm_preprocess(model_name: str | None, pretrained_cfg: dict[str, Any] | None = None) -> PreprocessConfig:
    """The preprocessing timm publishes for a model (its pretrained config)."""
    cfg: dict[str, Any] = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "crop_pct": 0.875}
    if model_name:
        cfg.update(TIMM_PREPROCESS.get(model_name.split(".")[0], {}))
    for key in ("mean", "std", "crop_pct", "interpolation", "input_size"):
        if pretrained_cfg and key in pretrained_cfg:
            cfg[key] = pretrained_cfg[key]
    cfg["mean"], cfg["std"] = tuple(cfg["mean"]), tuple(cfg["std"])
    cfg["input_size"] = tuple(cfg.get("input_size", (3, 224, 224)))
    return PreprocessConfig(**cfg)


def convert_timm(
    state: dict[str, torch.Tensor],
    arch: str | None = None,
    model_name: str | None = None,
    path: str | Path | None = None,
) -> Converted:
    """Convert a timm MobileNet state dict.

    Args:
        state: the state dict.
        arch: our model name to convert to; guessed if None.
        model_name: timm's model name ('tf_mobilenetv3_large_100'); decides padding, BN eps
            and preprocessing. Read from a ``config.json`` beside ``path`` when not given.
        path: the weights file, to find that config.json and to record the source.

    Returns:
        The converted weights.
    """
    hub = read_hub_config(path) if path is not None else {}
    model_name = model_name or hub.get("architecture")
    pretrained_cfg = hub.get("pretrained_cfg")
    named_arch = arch_from_timm_name(model_name) if model_name else None  # refuses unsupported early
    v1 = "blocks.0.0.conv_pwl.weight" not in state and not any(".conv_pwl." in key for key in state)
    mapped = fix_up(map_timm(state, v1))
    tf_born = bool(model_name and model_name.startswith("tf_"))
    fields: dict[str, Any] = {
        "padding": "tf_same" if tf_born else "symmetric",
        "bn_eps": 1e-3 if tf_born else 1e-5,
    }
    if v1:
        fields["act"] = "relu6"  # timm's V1 uses ReLU6, as TF-slim did
    if arch is None and named_arch:
        arch = f"{named_arch[0]}_{named_arch[1]:.2f}"
    config = infer_config(mapped, arch=arch, **fields)
    preprocess = timm_preprocess(model_name, pretrained_cfg)
    source = f"timm:{model_name or 'unknown model'}:{Path(path).name if path else ''}"
    return Converted(mapped, config, preprocess, source)
