"""``create_model(name, weights=...)``: a named model with official, converted or saved weights.

Three kinds of ``weights`` end up as the same thing, a model rebuilt from a mobilenets file:

- 'torchvision' / 'timm' / 'keras' (or 'timm:<timm name>'): the official file for ``name``,
  fetched and converted once by ``hub.fetch_official``;
- a mobilenets ``.safetensors`` file: loaded as is;
- any other file: a foreign checkpoint, converted in memory (nothing is written).

Whatever the kind, the weights must be what ``name`` says: asking for 'mobilenet_v2' and
getting a V3 file is an error that names both, never a silent surprise.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mobilenets.model import MobileNet
from mobilenets.registry import parse_model_name

OFFICIAL_SOURCES = ("torchvision", "timm", "keras")
# Config fields a caller may change without touching the weights' shapes.
_FREE_FIELDS = {"dropout", "features_only", "out_indices", "bn_momentum", "resolution_mult", "global_pool"}


def _is_official(weights: str | Path) -> bool:
    return (
        isinstance(weights, str)
        and weights.partition(":")[0] in OFFICIAL_SOURCES
        and not Path(weights).exists()
    )


def create_pretrained(name: str, weights: str | Path, **kwargs: Any) -> MobileNet:
    """Build ``name`` with ``weights`` (see ``registry.create_model``)."""
    from mobilenets.convert import convert_file
    from mobilenets.hub import fetch_official
    from mobilenets.imagenet import NUM_IMAGENET_CLASSES, imagenet_labels
    from mobilenets.weights import load_model, read_metadata

    base, implied = parse_model_name(name)
    num_classes = kwargs.pop("num_classes", None)
    fixed = set(kwargs) - _FREE_FIELDS
    if fixed:
        raise ValueError(
            f"{sorted(fixed)} would change the shapes of the pretrained weights; only "
            f"{sorted(_FREE_FIELDS)} and num_classes can be set together with weights."
        )
    overrides = dict(kwargs)
    if "resolution_mult" in implied:
        overrides.setdefault("resolution_mult", implied["resolution_mult"])

    path = fetch_official(name, str(weights)) if _is_official(weights) else Path(weights)
    if not path.is_file():
        raise ValueError(
            f"weights={str(weights)!r} is neither a file nor one of {', '.join(OFFICIAL_SOURCES)}"
        )
    if path.suffix == ".safetensors" and _has_mobilenets_metadata(path):
        stored = read_metadata(path).config
        _check_matches(name, base, implied, stored.arch, stored.width_mult, path)
        model = load_model(path, **overrides)
    else:
        converted = convert_file(path, arch=None)
        _check_matches(name, base, implied, converted.config.arch, converted.config.width_mult, path)
        converted.config = dataclasses.replace(converted.config, **overrides)
        model = converted.build()
        if model.config.num_classes == NUM_IMAGENET_CLASSES:
            model.labels = imagenet_labels()
    if num_classes is not None and num_classes != model.config.num_classes:
        model.reset_classifier(num_classes)  # fine-tuning: a fresh head for the new classes
        model.labels = None
    return model


def _has_mobilenets_metadata(path: Path) -> bool:
    from mobilenets.weights import is_mobilenets_file

    return is_mobilenets_file(path)


def load_weights(weights: str | Path, model_name: str | None = None) -> MobileNet:
    """The model for a weights argument, as ``predict``, ``eval`` and ``export`` take it.

    Args:
        weights: a mobilenets ``.safetensors`` file, a torchvision/timm/Keras file (converted in
            memory), or 'torchvision' / 'timm' / 'keras' for the official weights of ``model_name``.
        model_name: the model the weights must be (default for official weights: mobilenet_v2).

    Raises:
        ValueError: the file is missing, unreadable, damaged, or cannot be converted; the
            message names the file and the fix.
    """
    from mobilenets.convert import convert_file
    from mobilenets.imagenet import NUM_IMAGENET_CLASSES, imagenet_labels
    from mobilenets.registry import create_model
    from mobilenets.weights import WeightsFileError, load_model, mentioning

    if _is_official(weights):
        return create_model(model_name or "mobilenet_v2", weights=weights)
    path = Path(weights)
    if path.is_dir():
        raise WeightsFileError(f"{path}: is a folder, not a weight file; give the weights file in it")
    if not path.is_file():
        raise WeightsFileError(
            f"{path}: no such file; give a weights file or one of {', '.join(OFFICIAL_SOURCES)}"
        )
    if model_name:
        return create_model(model_name, weights=path)
    if _has_mobilenets_metadata(path):
        return load_model(path)
    with mentioning(path):  # every message names the file
        model = convert_file(path).build()
    if model.config.num_classes == NUM_IMAGENET_CLASSES:
        model.labels = imagenet_labels()
    return model


def _check_matches(
    name: str, base: str, implied: dict[str, Any], arch: str, width: float, path: Path
) -> None:
    wanted_width = implied.get("width_mult")
    if arch != base or (wanted_width is not None and abs(wanted_width - width) > 1e-9):
        raise ValueError(
            f"asked for {name!r}, but {path} holds {arch} at width_mult={width:g}. Use "
            f"create_model('{arch}_{width}', weights=...) or pick the matching weights."
        )
