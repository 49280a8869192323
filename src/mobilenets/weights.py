"""The mobilenets weight file: safetensors plus the metadata that rebuilds the exact model.

A file holds the state dict and, as safetensors string metadata:
- ``config``: the full ``MobileNetConfig`` (architecture, α, ρ, padding, activation, BN eps,
  number of classes, ...) as JSON;
- ``preprocess``: the ``PreprocessConfig`` (mean, std, input size, crop fraction, interpolation);
- ``labels``: the class names, if known;
- ``source``: where the weights came from (e.g. a converted Keras file and its SHA-256).

``load_model(path)`` needs nothing but the file. safetensors stores raw tensors only, so loading
one can never execute code, unlike a pickled ``.pth``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from mobilenets.model import MobileNet, MobileNetConfig
from mobilenets.preprocess import PreprocessConfig

FORMAT_NAME = "mobilenets"
FORMAT_VERSION = "1"


@dataclasses.dataclass(frozen=True)
class WeightsMetadata:
    """What a weight file says about itself."""

    config: MobileNetConfig
    preprocess: PreprocessConfig
    labels: list[str] | None
    source: str


def save_weights(
    model: MobileNet, path: str | Path, *, labels: list[str] | None = None, source: str = ""
) -> Path:
    """Write ``model`` to a safetensors file that ``load_model`` rebuilds exactly.

    Args:
        model: the model; its ``config`` and ``preprocess`` are stored with the tensors.
        path: destination (conventionally ``*.safetensors``).
        labels: class names, one per output; defaults to ``model.labels``.
        source: free text recording the weights' origin.

    Returns:
        The path written.
    """
    labels = labels if labels is not None else model.labels
    num_classes = model.config.num_classes
    if labels is not None and num_classes and len(labels) != num_classes:
        raise ValueError(
            f"labels has {len(labels)} names but the model has num_classes={num_classes}; "
            "pass one name per class."
        )
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(model.config.to_dict()),
        "preprocess": json.dumps(dataclasses.asdict(model.preprocess)),
        "source": source,
    }
    if labels is not None:
        metadata["labels"] = json.dumps(list(labels))
    # safetensors refuses shared or non-contiguous storage; a detached contiguous copy is safe.
    tensors = {name: t.detach().contiguous().cpu() for name, t in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def read_metadata(path: str | Path) -> WeightsMetadata:
    """Read a weight file's metadata without loading its tensors.

    Raises:
        ValueError: the file is not a mobilenets weight file.
    """
    with safe_open(str(path), framework="pt") as handle:
        raw = handle.metadata() or {}
    if raw.get("format") != FORMAT_NAME or "config" not in raw:
        raise ValueError(
            f"{path} is a safetensors file without mobilenets metadata; convert foreign weights "
            "with `mobilenets convert` first."
        )
    preprocess = json.loads(raw.get("preprocess", "{}"))
    for key in ("input_size", "mean", "std"):
        if key in preprocess:
            preprocess[key] = tuple(preprocess[key])
    labels = json.loads(raw["labels"]) if "labels" in raw else None
    return WeightsMetadata(
        config=MobileNetConfig.from_dict(json.loads(raw["config"])),
        preprocess=PreprocessConfig(**preprocess),
        labels=labels,
        source=raw.get("source", ""),
    )


def load_model(path: str | Path, **overrides: Any) -> MobileNet:
    """Rebuild the model stored in a mobilenets weight file.

    Args:
        path: a file written by ``save_weights``.
        **overrides: config fields to change that do not alter the weights' shapes
            (e.g. ``dropout``), or ``features_only`` / ``out_indices``.

    Returns:
        The model in eval mode, with ``preprocess`` and ``labels`` from the file.
    """
    meta = read_metadata(path)
    config = dataclasses.replace(meta.config, **overrides)
    model = MobileNet(config)
    with safe_open(str(path), framework="pt") as handle:
        state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    load_state_dict_checked(model, state, strict=not config.features_only)
    model.preprocess = dataclasses.replace(
        meta.preprocess, input_size=(config.in_chans, *meta.preprocess.input_size[1:])
    )
    model.labels = meta.labels
    return model.eval()


def load_state_dict_checked(model: MobileNet, state: dict[str, torch.Tensor], strict: bool = True) -> None:
    """``load_state_dict`` with an error that names the first offending keys.

    Raises:
        ValueError: keys are missing or unexpected, or shapes differ.
    """
    own = model.state_dict()
    mismatched = [
        f"{key}: file {tuple(value.shape)} vs model {tuple(own[key].shape)}"
        for key, value in state.items()
        if key in own and own[key].shape != value.shape
    ]
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    if not strict:
        unexpected = []
    cfg = model.config
    where = f"arch={cfg.arch!r}, width_mult={cfg.width_mult:g}, num_classes={cfg.num_classes}"
    if mismatched:
        raise ValueError(
            f"weights do not fit {where}: shape mismatch at {'; '.join(mismatched[:3])}."
            f"{describe_weights(state)} Check the architecture and width multiplier the weights "
            "were trained with."
        )
    if missing or unexpected:
        raise ValueError(
            f"weights do not fit {where}: missing keys {missing[:3]}, unexpected keys {unexpected[:3]}."
            f"{describe_weights(state)}"
        )
    model.load_state_dict(state, strict=strict)


def describe_weights(state: dict[str, torch.Tensor]) -> str:
    """' The weights look like arch=..., width_mult=...' when a known config fits, else ''."""
    from mobilenets.convert.common import ConversionError, infer_config

    try:
        config = infer_config(state)
    except (ConversionError, ValueError, KeyError, IndexError):
        return ""
    return (
        f" The weights look like arch={config.arch!r}, width_mult={config.width_mult:g}, "
        f"num_classes={config.num_classes}."
    )
