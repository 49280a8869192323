"""timm ``mobilenetv1_*``, ``mobilenetv2_*``, ``mobilenetv3_*``, ``tf_mobilenetv3_*`` and
``mobilenetv4_*`` -> mobilenets.

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

MobileNetV4's blocks and head, its per-tag preprocessing and its anti-aliased twins are in
``timm_v4.py``.

``tf_`` models were ported from TF checkpoints: they need TF 'SAME' padding, BN eps 1e-3 and
pixels in [-1, 1] (mean/std 0.5). timm's own models use symmetric padding, BN eps 1e-5 and
ImageNet statistics. For V3-Large and V3-Small, at every width, both kinds exist
(``tf_mobilenetv3_large_075`` and ``mobilenetv3_large_075``) with identical tensor names and
shapes: the state dict alone cannot tell them apart, and the wrong settings give a model that
runs but computes something else. The same holds for MobileNetV4's Conv-M and Conv-L, whose
anti-aliased variants (``mobilenetv4_conv_aa_medium``, ``_conv_blur_medium``, ``_conv_aa_large``)
have exactly their tensors and another network (stride-1 convs, then average or blur pooling).
So the timm model is taken, in this order, from

1. the caller (``model_name``; ``--timm-model`` on the command line);
2. a model name inside the file (safetensors metadata, or a string such as timm's ``arch`` in a
   pickled checkpoint), when it is a timm MobileNet name;
3. the ``config.json`` a Hugging Face timm repo keeps beside its weights (``architecture``);
4. the structure, where it leaves one candidate: the minimalistic V3s exist only as ``tf_``
   ports; V1 and V2 only as timm's own models; V4 other than Conv-M and Conv-L at width 1.0
   only as timm's plain model.

When none of these settles it, ``convert_timm`` raises ``AmbiguousSourceError`` naming every
candidate and its settings; it never guesses. ``--arch`` names our architecture, not the source
model, and settles nothing here.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
import warnings
import zipfile
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from mobilenets.models.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    INCEPTION_MEAN,
    INCEPTION_STD,
    PreprocessConfig,
)
from mobilenets.models.registry import paper_input_size, parse_model_name
from mobilenets.weights.convert.common import AmbiguousSourceError, Converted, fix_up
from mobilenets.weights.convert.timm_v4 import (
    looks_like_timm_v4,
    map_timm_v4,
    v4_ambiguity_message,
    v4_arch_from_name,
    v4_candidates,
    v4_preprocess,
)
from mobilenets.weights.state_fit import ConversionError, infer_config

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
# MobileNetV4's, per tag, are ``timm_v4.TIMM_V4_TAGS``.
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
    v4 = v4_arch_from_name(base)
    if v4 is not None:
        return v4
    raise ConversionError(
        f"timm model {model_name!r} is not a MobileNet V1/V2/V3/V4 that mobilenets can rebuild; "
        "supported: mobilenetv1_*, mobilenetv2_*, mobilenetv3_large/small_*, tf_mobilenetv3_*, "
        "mobilenetv4_conv_small/medium/large*, mobilenetv4_conv_aa/blur_*, mobilenetv4_hybrid_*."
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


def timm_preprocess(
    model_name: str | None, pretrained_cfg: dict[str, Any] | None = None, v4: bool = False
) -> PreprocessConfig:
    """The preprocessing timm publishes for a model (its pretrained config).

    ``tf_`` ports take pixels in [-1, 1] (mean/std 0.5) whether or not the name is listed in
    ``TIMM_PREPROCESS``; other models default to ImageNet statistics. MobileNetV4 (a V4 name,
    or ``v4`` for V4 weights that name no timm model) follows its tag (``timm_v4.v4_preprocess``).

    Raises:
        ConversionError: a V4 tag timm does not publish, with no ``pretrained_cfg`` to say more.
    """
    cfg: dict[str, Any] = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "crop_pct": 0.875}
    if v4 or (model_name and v4_arch_from_name(model_name)):
        try:
            cfg.update(v4_preprocess(model_name))
        except ConversionError:
            if not pretrained_cfg:
                raise
            # an unlisted tag, but the hub's own config (applied below) describes it
            cfg.update(v4_preprocess(str(model_name).split(".")[0]))
    elif model_name:
        base = model_name.split(".")[0]
        if base.startswith("tf_"):
            cfg.update(mean=INCEPTION_MEAN, std=INCEPTION_STD)
        cfg.update(TIMM_PREPROCESS.get(base, {}))
    for key in ("mean", "std", "crop_pct", "interpolation", "input_size"):
        if pretrained_cfg and key in pretrained_cfg:
            cfg[key] = pretrained_cfg[key]
    cfg["mean"], cfg["std"] = tuple(cfg["mean"]), tuple(cfg["std"])
    cfg["input_size"] = tuple(cfg.get("input_size", (3, 224, 224)))
    return PreprocessConfig(**cfg)


def timm_settings(model_name: str) -> dict[str, Any]:
    """The config fields a timm model's weights need: padding and BN eps (``tf_`` or not)."""
    tf_born = model_name.split(".")[0].startswith("tf_")
    return {"padding": "tf_same" if tf_born else "symmetric", "bn_eps": 1e-3 if tf_born else 1e-5}


def timm_candidates(arch: str, width: float) -> tuple[str, ...]:
    """The timm models whose weights have the structure of our ``arch`` at ``width``.

    V3-Large and V3-Small exist both as TF ports and as timm's own models (two candidates with
    different settings); the minimalistic V3s only as TF ports. V1 and V2 have no ``tf_`` twin:
    nothing to choose, so no candidate is returned for them. V4: ``timm_v4.v4_candidates``
    (Conv-M and Conv-L share their tensors with anti-aliased variants).
    """
    if arch.startswith("mobilenet_v4_"):
        return v4_candidates(arch, width)
    percent = f"{round(width * 100):03d}"
    if arch in ("mobilenet_v3_large", "mobilenet_v3_small"):
        size = arch.rsplit("_", 1)[1]
        return (f"tf_mobilenetv3_{size}_{percent}", f"mobilenetv3_{size}_{percent}")
    if arch in ("mobilenet_v3_large_minimal", "mobilenet_v3_small_minimal"):
        size = arch.split("_")[2]
        return (f"tf_mobilenetv3_{size}_minimal_{percent}",)
    return ()


def describe_timm_model(model_name: str) -> str:
    """'tf_mobilenetv3_large_075 (TF 'SAME' padding, BN eps 1e-3, mean/std 0.5)'."""
    settings, preprocess = timm_settings(model_name), timm_preprocess(model_name)
    padding = "TF 'SAME' padding" if settings["padding"] == "tf_same" else "symmetric padding"
    eps = {1e-3: "1e-3", 1e-5: "1e-5"}.get(settings["bn_eps"], f"{settings['bn_eps']:g}")
    if (preprocess.mean, preprocess.std) == (INCEPTION_MEAN, INCEPTION_STD):
        stats = "mean/std 0.5"
    elif (preprocess.mean, preprocess.std) == (IMAGENET_MEAN, IMAGENET_STD):
        stats = "ImageNet mean/std"
    else:
        stats = f"mean {preprocess.mean}, std {preprocess.std}"
    return f"{model_name} ({padding}, BN eps {eps}, {stats})"


def ambiguity_message(where: str, candidates: tuple[str, ...]) -> str:
    """The one-line refusal for weights that fit several timm models (no newline in it)."""
    if v4_arch_from_name(candidates[0]) is not None:  # plain and anti-aliased V4: other networks
        return v4_ambiguity_message(where, candidates)
    described = ", ".join(describe_timm_model(name) for name in candidates[:-1])
    described += f" and {describe_timm_model(candidates[-1])}"
    picks = " or ".join(f"--timm-model {name}" for name in candidates)
    return (
        f"{where}: these timm weights fit {len(candidates)} timm models that need different "
        f"settings, {described}, and nothing names the model (no --timm-model, no model name in "
        f"the file, no config.json beside it). mobilenets does not guess: pick one with "
        f"--timm-model NAME ({picks}; timm_model=NAME in Python), or put the model's timm "
        "config.json beside the file."
    )


# Where a weights file may carry its timm model name: safetensors metadata keys, or top-level
# strings of a pickled checkpoint (timm's train.py stores its --model as 'arch'). A value counts
# only if it is a timm MobileNet name: 'arch' can also be a class name such as 'mobilenetv3'.
_NAME_KEYS = ("timm_model", "model_name", "architecture", "arch", "model")
_CONFIG_KEYS = ("pretrained_cfg", "config")


def _as_timm_name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if value.split(".")[0] in UNSUPPORTED:
        return value  # named, so refused later with the reason
    try:
        arch_from_timm_name(value)
    except ConversionError:
        return None
    return value


def _name_in_mapping(mapping: Mapping[str, Any]) -> str | None:
    for key in _NAME_KEYS:
        name = _as_timm_name(mapping.get(key))
        if name:
            return name
    for key in _CONFIG_KEYS:
        nested = mapping.get(key)
        if isinstance(nested, str):
            try:
                nested = json.loads(nested)
            except json.JSONDecodeError:
                continue
        if isinstance(nested, Mapping):
            name = _as_timm_name(nested.get("architecture")) or _as_timm_name(nested.get("model"))
            if name:
                return name
    return None


def name_in_file(path: str | Path) -> str | None:
    """A timm MobileNet model name stored inside a weights file, if it holds one.

    Reads safetensors metadata, or the top-level entries of a pickled checkpoint (loaded with
    ``weights_only=True``: nothing in it runs). Unreadable files give None; reading the weights
    themselves reports those errors.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
        except (SafetensorError, OSError):
            return None
        return _name_in_mapping(metadata)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError):
        return None
    return _name_in_mapping(loaded) if isinstance(loaded, Mapping) else None


def convert_timm(
    state: dict[str, torch.Tensor],
    arch: str | None = None,
    model_name: str | None = None,
    path: str | Path | None = None,
) -> Converted:
    """Convert a timm MobileNet state dict.

    Args:
        state: the state dict.
        arch: our model name to convert to; guessed from the shapes if None. It fixes the
            shapes only: padding, BN eps and preprocessing come from the timm model.
        model_name: timm's model name ('tf_mobilenetv3_large_100'); decides padding, BN eps
            and preprocessing. When not given: a timm name stored in the file at ``path``,
            then the ``config.json`` beside it, then the structure where only one timm model
            has it (see the module docstring).
        path: the weights file, to find those and to record the source.

    Returns:
        The converted weights.

    Raises:
        AmbiguousSourceError: the weights fit timm models that need different settings
            (``tf_mobilenetv3_large_075`` and ``mobilenetv3_large_075``) and nothing names one.
        ConversionError: an unsupported timm variant, or weights that fit no model.
    """
    where = str(path) if path is not None else "the state dict"
    hub = read_hub_config(path) if path is not None else {}
    hub_name = hub.get("architecture") if isinstance(hub.get("architecture"), str) else None
    origin = "--timm-model / timm_model"
    if model_name is None and path is not None:
        model_name, origin = name_in_file(path), "a name stored in the file"
    if model_name is None and hub_name is not None:
        model_name, origin = hub_name, str(Path(str(path)).with_name("config.json"))
    # The hub's preprocessing belongs to the hub's model: ignore it when another name won.
    same_model = hub_name is not None and model_name is not None
    same_model = same_model and str(hub_name).split(".")[0] == str(model_name).split(".")[0]
    pretrained_cfg = hub.get("pretrained_cfg") if same_model else None
    named_arch = arch_from_timm_name(model_name) if model_name else None  # refuses unsupported early
    v4 = looks_like_timm_v4(state)
    v1 = not v4 and not any(".conv_pwl." in key for key in state)
    mapped = fix_up(map_timm_v4(state) if v4 else map_timm(state, v1))
    shape_arch = arch
    if shape_arch is None and named_arch:
        shape_arch = f"{named_arch[0]}_{named_arch[1]:.2f}"
    try:
        # Shapes do not depend on padding or BN eps: find the architecture first.
        config = infer_config(mapped, arch=shape_arch, act="relu6" if v1 else None)
    except ConversionError as error:
        if arch is None and named_arch:
            raise ConversionError(
                f"{where}: the weights do not fit timm's {model_name} (named by {origin}): {error}"
            ) from None
        raise
    if named_arch and v4 and config.arch != named_arch[0]:
        # The anti-aliased V4s have the plain ones' shapes: the arch is the named model's.
        if arch is not None and parse_model_name(arch)[0] != named_arch[0]:
            raise ConversionError(
                f"{where}: --arch {arch} contradicts timm's {model_name} (named by {origin}), "
                f"which is our {named_arch[0]}; drop --arch or name the other model"
            )
        config = dataclasses.replace(config, arch=named_arch[0])
    if model_name is None:
        candidates = timm_candidates(config.arch, config.width_mult)
        if len(candidates) > 1:
            raise AmbiguousSourceError(ambiguity_message(where, candidates), candidates)
        if candidates:
            model_name = candidates[0]  # the structure exists as one timm model only
    if model_name:
        config = dataclasses.replace(config, **timm_settings(model_name))
    else:  # V1 / V2 / V4 widths timm lacks: timm's own models, trained in PyTorch
        config = dataclasses.replace(config, padding="symmetric", bn_eps=1e-5)
    try:
        preprocess = timm_preprocess(model_name, pretrained_cfg, v4=v4)
    except ConversionError as error:
        raise ConversionError(f"{where}: {error}") from None
    if arch is None or "resolution_mult" not in parse_model_name(arch)[1]:
        # The input size the weights were published for (a V4 tag's 'r224' / 'r256' ...), unless
        # the caller's model name sets one.
        size = preprocess.input_size[-1]
        config = dataclasses.replace(config, resolution_mult=size / paper_input_size(config.arch))
    source = f"timm:{model_name or 'unknown model'}:{Path(path).name if path else ''}"
    return Converted(mapped, config, preprocess, source)
