"""torchvision ``mobilenet_v2``, ``mobilenet_v3_large`` and ``mobilenet_v3_small`` -> mobilenets.

torchvision's layout (``torchvision/models/mobilenetv2.py``, ``mobilenetv3.py``):

- ``features.0``: the stem, a Conv2dNormActivation (``.0`` conv, ``.1`` BN);
- ``features.1`` ... ``features.N``: one inverted residual each. V2 names its parts
  ``conv.0`` (expand: ``.0`` conv / ``.1`` BN), ``conv.1`` (depthwise), ``conv.2`` (project
  conv), ``conv.3`` (project BN) -- one index less when the expansion is 1. V3 names them
  ``block.0`` ... ``block.3`` in the order expand, depthwise, SE (``fc1`` / ``fc2``), project,
  where absent parts leave no gap;
- ``features.N+1``: the last 1x1 conv (1280 / 960 / 576);
- ``classifier``: V2 ``classifier.1``; V3 ``classifier.0`` (1280 / 1024 hidden) and ``classifier.3``.

A part is identified by its tensors, not its index: a depthwise conv has one input channel
per group and a kernel larger than 1; what comes before it is the expansion, after it the
projection.
"""

from __future__ import annotations

import re
from collections import defaultdict

import torch

from mobilenets.models.preprocess import PreprocessConfig
from mobilenets.weights.convert.common import Converted, fix_up
from mobilenets.weights.state_fit import ConversionError, infer_config

TORCHVISION_PREPROCESS = PreprocessConfig(crop_pct=0.875, interpolation="bilinear")
_BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def looks_like_torchvision(state: dict[str, torch.Tensor]) -> bool:
    """True for torchvision MobileNet key names (``features.0.0.weight``)."""
    return "features.0.0.weight" in state and any(key.startswith("features.1.") for key in state)


def _parts(block: dict[str, torch.Tensor], v3: bool) -> dict[str, dict[str, torch.Tensor]]:
    """Split one block's tensors by their part prefix ('conv.0.0', 'block.2', ...)."""
    grouped: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for key, value in block.items():
        if v3:
            match = re.match(r"(block\.\d+)(?:\.(0|1))?\.(.+)$", key)
        else:
            match = re.match(r"(conv\.\d+)(?:\.(0|1))?\.(.+)$", key)
        if not match:
            raise ConversionError(f"unexpected torchvision key in an inverted residual: {key!r}")
        part, sub, suffix = match.groups()
        grouped[part + ("." + sub if sub else "")][suffix] = value
    return grouped


def _map_block(prefix: str, block: dict[str, torch.Tensor], v3: bool) -> dict[str, torch.Tensor]:
    """One torchvision inverted residual onto ``blocks.i`` names."""
    state: dict[str, torch.Tensor] = {}
    seen_depthwise = False
    for part in sorted(_parts(block, v3), key=_part_order):
        tensors = _parts(block, v3)[part]
        if "fc1.weight" in tensors:  # squeeze-excite
            for ours, theirs in (("reduce", "fc1"), ("expand", "fc2")):
                state[f"{prefix}.se.{ours}.weight"] = tensors[f"{theirs}.weight"]
                state[f"{prefix}.se.{ours}.bias"] = tensors[f"{theirs}.bias"]
            continue
        is_bn = "running_mean" in tensors
        if not is_bn:
            weight = tensors["weight"]
            depthwise = weight.shape[1] == 1 and weight.shape[-1] > 1
            stage = "dw" if depthwise else ("project" if seen_depthwise else "expand")
            seen_depthwise = seen_depthwise or depthwise
            state[f"{prefix}.{stage}.conv.weight"] = weight
            last_stage = stage
        else:
            for suffix in _BN_SUFFIXES:
                if suffix in tensors:
                    state[f"{prefix}.{last_stage}.bn.{suffix}"] = tensors[suffix]
    return state


def _part_order(part: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", part))


def map_torchvision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a torchvision MobileNet V2 / V3 state dict onto our module names."""
    features: dict[int, dict[str, torch.Tensor]] = defaultdict(dict)
    mapped: dict[str, torch.Tensor] = {}
    v3 = any(".block." in key for key in state)
    for key, value in state.items():
        match = re.match(r"features\.(\d+)\.(.+)$", key)
        if match:
            features[int(match.group(1))][match.group(2)] = value
        elif key.startswith("classifier."):
            layer, suffix = key.split(".")[1:3]
            head_names = {"0": "head_fc", "3": "classifier"} if v3 else {"1": "classifier"}
            if layer not in head_names:
                raise ConversionError(f"unexpected torchvision classifier key {key!r}")
            mapped[f"{head_names[layer]}.{suffix}"] = value
        else:
            raise ConversionError(f"unexpected torchvision key {key!r}; is this a MobileNet V2/V3?")
    last = max(features)
    for index, tensors in sorted(features.items()):
        if index in (0, last):  # stem and final 1x1 conv: Conv2dNormActivation
            module = "stem" if index == 0 else "final_conv"
            for key, value in tensors.items():
                sub, suffix = key.split(".", 1)
                mapped[f"{module}.{'conv' if sub == '0' else 'bn'}.{suffix}"] = value
        else:
            mapped.update(_map_block(f"blocks.{index - 1}", tensors, v3))
    return mapped


def convert_torchvision(state: dict[str, torch.Tensor], arch: str | None = None, name: str = "") -> Converted:
    """Convert a torchvision MobileNet state dict.

    Args:
        state: the state dict (as loaded by ``safe_load``).
        arch: our model name to convert to; guessed from the shapes if None.
        name: the source file name, recorded in the metadata.

    Returns:
        The converted weights with torchvision's settings: symmetric padding, ReLU6 / hard-swish,
        BN eps 1e-5 (V2) or 1e-3 (V3), ImageNet mean/std, resize 256 and crop 224.
    """
    mapped = fix_up(map_torchvision(state))
    v3 = "head_fc.weight" in mapped
    config = infer_config(mapped, arch=arch, widths=(1.0,), padding="symmetric", bn_eps=1e-3 if v3 else 1e-5)
    return Converted(mapped, config, TORCHVISION_PREPROCESS, f"torchvision:{name}")
