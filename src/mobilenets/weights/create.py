"""``create_model``: the one way to get a model, whatever the source.

- a name ('mobilenet_v3_large', 'mobilenet_v1_0.75_192'): built from the paper's table, random
  weights (``models.registry.build_model``);
- a name and ``weights='torchvision' | 'timm' | 'keras'`` (or 'timm:<timm name>',
  'torchvision:<release>'): the official file, fetched, verified and converted once
  (``official.fetch_official``);
- a mobilenets ``.safetensors`` file: loaded as is (``file_format.load_model``);
- any other weights file: a torchvision, timm or Keras checkpoint, converted in memory.

A file can be given as ``weights`` beside a name, which it must then match (asking for
'mobilenet_v2' and getting a V3 file is an error that names both, never a silent surprise), or
alone, as the name, when the file decides the model.

The converters and the downloader are imported only when a foreign file or an official source
asks for them: building or profiling a model never loads them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mobilenets.models.mobilenet import MobileNet
from mobilenets.models.registry import build_model, parse_model_name
from mobilenets.weights.catalog import SOURCES, is_official_source
from mobilenets.weights.file_format import (
    WeightsFileError,
    is_mobilenets_file,
    load_model,
    mentioning,
    read_metadata,
)
from mobilenets.weights.imagenet_labels import NUM_IMAGENET_CLASSES, imagenet_labels
from mobilenets.weights.safe_load import WEIGHT_SUFFIXES

# Config fields a caller may change without touching the weights' shapes.
FREE_FIELDS = {"dropout", "features_only", "out_indices", "bn_momentum", "resolution_mult", "global_pool"}


def create_model(
    name: str | Path | None = None, weights: str | Path | None = None, **kwargs: Any
) -> MobileNet:
    """A model by name, from a weights file, or with official weights.

    Args:
        name: a base name from ``list_models()``, optionally with a width/resolution suffix
            ('mobilenet_v1_0.75_192'); or a weights file (anything that exists on disk or ends
            in a weights suffix), whose model is then taken from the file. None with a file as
            ``weights`` means the same.
        weights: None (random), 'torchvision' / 'timm' / 'keras' (official weights; 'timm:<timm
            name>' or 'torchvision:<release>' picks one of several), or a path: a mobilenets
            ``.safetensors`` file, or a torchvision / timm / Keras file to convert.
        **kwargs: any ``MobileNetConfig`` field (``width_mult``, ``num_classes``, ...). With
            weights only those that keep the weights' shapes (``FREE_FIELDS``), and
            ``num_classes``, which replaces the classifier (for fine-tuning).

    Returns:
        The model; with weights, in eval mode with ``preprocess`` and ``labels`` set.

    Raises:
        ValueError: an unknown name, a missing or damaged file, weights that are not the named
            model, or fields that contradict the name or the weights. The message names the
            file or the name, and the fix.
    """
    if name is not None and is_file_source(name):
        if weights is not None:
            raise ValueError(f"{name} is a weights file and weights={weights!s} is given too; give one")
        name, weights = None, name
    if weights is None:
        if name is None:
            raise ValueError("give a model name (see list_models()) or a weights file")
        return build_model(str(name), **kwargs)
    num_classes = kwargs.pop("num_classes", None)
    fixed = set(kwargs) - FREE_FIELDS
    if fixed:
        raise ValueError(
            f"{sorted(fixed)} would change the shapes of the weights; only {sorted(FREE_FIELDS)} and "
            "num_classes can be set together with weights."
        )
    model = _with_weights(None if name is None else str(name), weights, kwargs)
    if num_classes is not None and num_classes != model.config.num_classes:
        model.reset_classifier(num_classes)  # fine-tuning: a fresh head for the new classes
        model.labels = None
    return model


def is_file_source(source: str | Path) -> bool:
    """A path rather than a model name: it exists, or it ends in a weights suffix.

    A typo in a file name is then reported as a missing file, not as an unknown model.
    """
    return isinstance(source, Path) or Path(source).exists() or Path(source).suffix in WEIGHT_SUFFIXES


def _with_weights(name: str | None, weights: str | Path, overrides: dict[str, Any]) -> MobileNet:
    implied: dict[str, Any] = {}
    if name is not None:
        _, implied = parse_model_name(name)
        if "resolution_mult" in implied:
            overrides.setdefault("resolution_mult", implied["resolution_mult"])
    if is_official_source(weights):
        if name is None:
            raise ValueError(
                f"weights={weights!s} needs a model name: which of its models? e.g. "
                f"create_model('mobilenet_v2', weights={str(weights)!r})"
            )
        from mobilenets.weights.official import fetch_official  # the downloader and converters

        path = fetch_official(name, str(weights))
    else:
        path = Path(weights)
    if path.is_dir():
        raise WeightsFileError(f"{path}: is a folder, not a weight file; give the weights file in it")
    if not path.is_file():
        raise WeightsFileError(
            f"{path}: no such file; check the path of the weights file, or give a model name "
            f"(with official weights: a model name and one of {', '.join(SOURCES)})"
        )
    if is_mobilenets_file(path):
        if name is not None:
            stored = read_metadata(path).config
            _check_matches(name, implied, stored.arch, stored.width_mult, path)
        return load_model(path, **overrides)
    from mobilenets.weights.convert import convert_file  # a foreign file: its converter

    with mentioning(path):  # every message names the file
        converted = convert_file(path, arch=None)
    if name is not None:
        _check_matches(name, implied, converted.config.arch, converted.config.width_mult, path)
    converted.config = dataclasses.replace(converted.config, **overrides)
    with mentioning(path):
        model = converted.build()
    if model.config.num_classes == NUM_IMAGENET_CLASSES:
        model.labels = imagenet_labels()
    return model


def _check_matches(name: str, implied: dict[str, Any], arch: str, width: float, path: Path) -> None:
    base, _ = parse_model_name(name)
    wanted_width = implied.get("width_mult", 1.0)  # a name without a width means α = 1, as it builds
    if arch != base or abs(wanted_width - width) > 1e-9:
        raise ValueError(
            f"asked for {name!r}, but {path} holds {arch} at width_mult={width:g}. Use "
            f"create_model('{arch}_{width}', weights=...) or pick the matching weights."
        )
