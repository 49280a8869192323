"""Checking a weight file's metadata before anything is built or allocated.

The metadata of a mobilenets file decides what gets allocated: a ``width_mult`` of 64 or 2e9
classes would ask for gigabytes, an input size of 100000² for terabytes at the first image,
and a std of 0 turns every probability into NaN. A damaged or hand-edited file must fail with
a line that names the file and the field, not with a MemoryError or a silent NaN. The bounds
are what the MobileNets can be, with room to spare:

- the official models span α 0.25-1.4, so α up to 4 (16x the V2 parameters) is generous;
- ImageNet-21k has 21,843 classes and Open Images about 20k: 100,000 classes is generous;
- inputs run 96-512 px in the papers and up to 2048 for segmentation backbones: 4096 px;
- mean and std apply to pixels scaled to [0, 1], so a mean outside [0, 1] or a std outside
  [1e-3, 10] is not a normalization anyone trains with.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from mobilenets.models.mobilenet import MAX_INPUT_SIZE, MAX_WIDTH_MULT, MIN_INPUT_SIZE, MobileNetConfig
from mobilenets.models.preprocess import PreprocessConfig
from mobilenets.models.specs import ARCHITECTURES

MAX_CLASSES = 100_000
MAX_IN_CHANS = 64
MAX_DEPTH_MULTIPLIER = 16
MAX_LABEL_LENGTH = 200  # WordNet's longest ImageNet class name is under 100 characters
STD_RANGE = (1e-3, 10.0)
CROP_PCT_RANGE = (0.2, 1.0)
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos")


class WeightsFileError(ValueError):
    """A weight file that cannot be used; the message names the file, the field and the fix."""


DAMAGED = (
    "The file is damaged or was not written by mobilenets; re-create it with "
    "`mobilenets convert` or save_weights()."
)


def _fail(path: str | Path, field: str, value: Any, allowed: str) -> WeightsFileError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return WeightsFileError(f"{path}: metadata field {field} = {shown} is invalid: {allowed}. {DAMAGED}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_json(path: str | Path, field: str, text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise _fail(path, field, text, "it is not JSON") from None


def check_config(path: str | Path, raw: Any) -> MobileNetConfig:
    """The model config stored in ``path``, refused unless every field is in range."""
    if not isinstance(raw, dict):
        raise _fail(path, "config", raw, "expected a JSON object of MobileNetConfig fields")
    known = {f.name for f in dataclasses.fields(MobileNetConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fail(path, f"config.{unknown[0]}", raw[unknown[0]], f"unknown field; known: {sorted(known)}")
    arch = raw.get("arch", MobileNetConfig.arch)
    if not isinstance(arch, str) or arch not in ARCHITECTURES:
        raise _fail(path, "config.arch", arch, f"one of {sorted(ARCHITECTURES)}")
    paper_size = ARCHITECTURES[arch].input_size
    bounds = {
        "width_mult": (_number, lambda v: 0 < v <= MAX_WIDTH_MULT, f"a number in (0, {MAX_WIDTH_MULT:g}]"),
        "resolution_mult": (
            _number,
            lambda v: MIN_INPUT_SIZE <= paper_size * v <= MAX_INPUT_SIZE,
            f"a number giving an input size of {MIN_INPUT_SIZE}-{MAX_INPUT_SIZE} px ({paper_size} x it)",
        ),
        "num_classes": (_integer, lambda v: 0 <= v <= MAX_CLASSES, f"an integer in [0, {MAX_CLASSES:,}]"),
        "in_chans": (_integer, lambda v: 1 <= v <= MAX_IN_CHANS, f"an integer in [1, {MAX_IN_CHANS}]"),
        "depth_multiplier": (
            _integer,
            lambda v: 1 <= v <= MAX_DEPTH_MULTIPLIER,
            f"an integer in [1, {MAX_DEPTH_MULTIPLIER}]",
        ),
        "min_depth": (_integer, lambda v: 1 <= v <= 1024, "an integer in [1, 1024] or null"),
        "dropout": (_number, lambda v: 0 <= v < 1, "a number in [0, 1) or null"),
        "bn_eps": (_number, lambda v: 0 < v < 1, "a number in (0, 1) or null"),
        "bn_momentum": (_number, lambda v: 0 <= v <= 1, "a number in [0, 1] or null"),
    }
    nullable = {"min_depth", "dropout", "bn_eps", "bn_momentum"}
    for name, (kind, within, allowed) in bounds.items():
        if name not in raw or (raw[name] is None and name in nullable):
            continue
        if not kind(raw[name]) or not within(raw[name]):
            raise _fail(path, f"config.{name}", raw[name], allowed)
    for name in ("features_only",):
        if name in raw and not isinstance(raw[name], bool):
            raise _fail(path, f"config.{name}", raw[name], "true or false")
    indices = raw.get("out_indices", [0, 1, 2, 3, 4])
    if not isinstance(indices, list) or not all(_integer(i) for i in indices):
        raise _fail(path, "config.out_indices", indices, "a list of integers")
    try:
        config = MobileNetConfig.from_dict(raw)
        config.validate()
    except (TypeError, ValueError) as error:
        reason = str(error).rstrip(".")
        raise WeightsFileError(f"{path}: metadata field config is invalid: {reason}. {DAMAGED}") from None
    return config


def check_preprocess(path: str | Path, raw: Any, in_chans: int) -> PreprocessConfig:
    """The preprocessing stored in ``path``, refused unless it can prepare an image sensibly."""
    if not isinstance(raw, dict):
        raise _fail(path, "preprocess", raw, "expected a JSON object")
    known = {f.name for f in dataclasses.fields(PreprocessConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fail(
            path, f"preprocess.{unknown[0]}", raw[unknown[0]], f"unknown field; known: {sorted(known)}"
        )
    values = dataclasses.asdict(PreprocessConfig()) | raw
    size = values["input_size"]
    if (
        not isinstance(size, list | tuple)
        or len(size) != 3
        or not all(_integer(v) for v in size)
        or size[0] != in_chans
        or not all(MIN_INPUT_SIZE <= v <= MAX_INPUT_SIZE for v in size[1:])
    ):
        raise _fail(
            path,
            "preprocess.input_size",
            size,
            f"[channels={in_chans}, height, width] with sides of {MIN_INPUT_SIZE}-{MAX_INPUT_SIZE} px",
        )
    for name, low, high in (("mean", 0.0, 1.0), ("std", *STD_RANGE)):
        value = values[name]
        if (
            not isinstance(value, list | tuple)
            or len(value) != in_chans
            or not all(_number(v) and low <= v <= high for v in value)
        ):
            raise _fail(
                path,
                f"preprocess.{name}",
                value,
                f"{in_chans} numbers in [{low:g}, {high:g}] (pixels in [0, 1])",
            )
    if values["interpolation"] not in INTERPOLATIONS:
        raise _fail(path, "preprocess.interpolation", values["interpolation"], f"one of {INTERPOLATIONS}")
    crop = values["crop_pct"]
    if not _number(crop) or not CROP_PCT_RANGE[0] <= crop <= CROP_PCT_RANGE[1]:
        raise _fail(
            path, "preprocess.crop_pct", crop, f"a number in [{CROP_PCT_RANGE[0]}, {CROP_PCT_RANGE[1]}]"
        )
    return PreprocessConfig(
        input_size=(size[0], size[1], size[2]),
        mean=tuple(float(v) for v in values["mean"]),
        std=tuple(float(v) for v in values["std"]),
        interpolation=values["interpolation"],
        crop_pct=float(crop),
    )


def label_problem(name: str) -> str | None:
    """Why a weights file cannot hold ``name`` as a class name, or ``None`` when it can.

    Labels are printed: no terminal escapes, no line breaks, no megabytes.
    """
    if len(name) > MAX_LABEL_LENGTH:
        return f"it is {len(name)} characters long, more than {MAX_LABEL_LENGTH}"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        return "it holds a control character (a tab, a line break, an escape)"
    return None


def check_labels(path: str | Path, raw: Any, num_classes: int) -> list[str]:
    """Class names: a list of strings, one per output."""
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise _fail(path, "labels", raw, "a JSON list of class names (strings)")
    for name in raw:
        if label_problem(name):
            raise _fail(
                path,
                "labels",
                name,
                f"printable names of at most {MAX_LABEL_LENGTH} characters, no control characters",
            )
    if num_classes and len(raw) != num_classes:
        raise _fail(path, "labels", raw, f"one name per class: {num_classes} names, not {len(raw)}")
    return raw
