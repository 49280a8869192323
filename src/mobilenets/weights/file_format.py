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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open

from mobilenets.atomic_files import atomic_write_bytes
from mobilenets.models.mobilenet import MobileNet, MobileNetConfig
from mobilenets.models.preprocess import PreprocessConfig
from mobilenets.output_paths import check_output_file
from mobilenets.printable import brief
from mobilenets.weights.metadata import (
    DAMAGED,
    WeightsFileError,
    check_config,
    check_labels,
    check_preprocess,
    parse_json,
)
from mobilenets.weights.state_fit import check_state_fits, load_state_dict_checked

__all__ = [
    "WeightsFileError",
    "WeightsMetadata",
    "is_mobilenets_file",
    "load_model",
    "read_metadata",
    "save_weights",
    "weights_bytes",
]

FORMAT_NAME = "mobilenets"
FORMAT_VERSION = "1"


@dataclasses.dataclass(frozen=True)
class WeightsMetadata:
    """What a weight file says about itself."""

    config: MobileNetConfig
    preprocess: PreprocessConfig
    labels: list[str] | None
    source: str


def weights_bytes(model: MobileNet, *, labels: list[str] | None = None, source: str = "") -> bytes:
    """``model`` serialized as a mobilenets weight file (see ``save_weights``)."""
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
    return safetensors.torch.save(tensors, metadata=metadata)


def save_weights(
    model: MobileNet, path: str | Path, *, labels: list[str] | None = None, source: str = ""
) -> Path:
    """Write ``model`` to a safetensors file that ``load_model`` rebuilds exactly.

    The file is written whole or not at all (a temporary file renamed into place), so a full
    disk or a kill never leaves a truncated weight file behind.

    Args:
        model: the model; its ``config`` and ``preprocess`` are stored with the tensors.
        path: destination, a ``.safetensors`` file (its folder is created). Anything else (an
            image, a folder, a device, another suffix) is refused before writing.
        labels: class names, one per output; defaults to ``model.labels``.
        source: free text recording the weights' origin.

    Returns:
        The path written.

    Raises:
        ValueError: ``path`` does not end in ``.safetensors`` or is not a file that may be written.
    """
    path = check_output_file(path, (".safetensors",), "the weights file", create_parent=True)
    return atomic_write_bytes(path, weights_bytes(model, labels=labels, source=source))


@contextmanager
def mentioning(path: str | Path) -> Iterator[None]:
    """A ValueError raised inside names ``path`` (the one line must say which file)."""
    try:
        yield
    except ValueError as error:
        if str(path) not in str(error):  # same exception, its message now naming the file
            error.args = (f"{path}: {error}", *error.args[1:])
        raise


@contextmanager
def open_safetensors(path: str | Path) -> Iterator[Any]:
    """``safe_open`` with every way a file can be unreadable turned into a ``WeightsFileError``."""
    path = Path(path)
    if path.is_dir():
        raise WeightsFileError(f"{path}: is a folder, not a weight file; give the .safetensors file in it")
    if not path.is_file():
        raise WeightsFileError(f"{path}: no such file; check the path")
    try:
        handle = safe_open(str(path), framework="pt")
    except PermissionError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        reason = brief(error)
        raise WeightsFileError(
            f"{path}: not a readable safetensors file ({reason}); it is truncated or not a "
            "weight file. Download or export it again."
        ) from None
    with handle:
        yield handle


def is_mobilenets_file(path: str | Path) -> bool:
    """Whether ``path`` is a readable safetensors file that says it was written by mobilenets."""
    if Path(path).suffix != ".safetensors":
        return False
    try:
        with open_safetensors(path) as handle:
            return (handle.metadata() or {}).get("format") == FORMAT_NAME
    except WeightsFileError:
        return False


def training_checkpoint_advice(path: str | Path) -> str | None:
    """The fix for a training checkpoint given where weights are expected, else ``None``.

    ``mobilenets train`` keeps ``checkpoints/*.pt`` (weights, optimizer and schedule, for
    ``--resume``) beside the weight files it writes for use; converting a checkpoint is never
    what the user wants, as the run folder already holds its weights.
    """
    path = Path(path)
    if path.suffix != ".pt" or path.parent.name != "checkpoints":
        return None
    run = path.parent.parent
    return (
        f"{path}: is a training checkpoint (for --resume), not a weights file; use "
        f"{run / 'final.safetensors'} or {run / 'best.safetensors'}, which the run writes for use"
    )


def read_metadata(path: str | Path) -> WeightsMetadata:
    """Read and check a weight file's metadata without loading its tensors.

    Raises:
        WeightsFileError: the file is unreadable, not a mobilenets weight file, or a metadata
            field is missing or out of range (the message names the field).
    """
    advice = training_checkpoint_advice(path)
    if advice:
        raise WeightsFileError(advice)
    if Path(path).suffix != ".safetensors" and Path(path).is_file():
        raise WeightsFileError(
            f"{path}: not a mobilenets weight file (those are .safetensors); convert it first with "
            f"`mobilenets convert {path} OUT.safetensors`"
        )
    with open_safetensors(path) as handle:
        raw = handle.metadata() or {}
    if raw.get("format") != FORMAT_NAME:
        raise WeightsFileError(
            f"{path} is a safetensors file without mobilenets metadata; convert foreign weights "
            "with `mobilenets convert` first."
        )
    version = raw.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise WeightsFileError(
            f"{path}: format version {version!r} is not {FORMAT_VERSION!r}, the one this mobilenets "
            "reads; upgrade mobilenets (pip install -U mobilenets) or re-export the file."
        )
    if "config" not in raw:
        raise WeightsFileError(f"{path}: metadata field config is missing. {DAMAGED}")
    config = check_config(path, parse_json(path, "config", raw["config"]))
    preprocess = check_preprocess(
        path, parse_json(path, "preprocess", raw.get("preprocess", "{}")), config.in_chans
    )
    labels = None
    if "labels" in raw:
        labels = check_labels(path, parse_json(path, "labels", raw["labels"]), config.num_classes)
    return WeightsMetadata(config=config, preprocess=preprocess, labels=labels, source=raw.get("source", ""))


def load_model(path: str | Path, **overrides: Any) -> MobileNet:
    """Rebuild the model stored in a mobilenets weight file.

    The metadata is checked first, then the stored tensor shapes against a model built on the
    meta device (no memory), so a damaged file is refused before anything is allocated.

    Args:
        path: a file written by ``save_weights``.
        **overrides: config fields to change that do not alter the weights' shapes
            (e.g. ``dropout``), or ``features_only`` / ``out_indices``.

    Returns:
        The model in eval mode, with ``preprocess`` and ``labels`` from the file.

    Raises:
        WeightsFileError: unreadable file, bad metadata, or tensors that do not fit it.
    """
    meta = read_metadata(path)
    config = dataclasses.replace(meta.config, **overrides)
    with open_safetensors(path) as handle:
        shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    with torch.device("meta"):
        skeleton = MobileNet(config)
    try:
        check_state_fits(skeleton, shapes, strict=not config.features_only)
    except ValueError as error:
        raise WeightsFileError(f"{path}: {error} {DAMAGED}") from None
    model = MobileNet(config)
    with open_safetensors(path) as handle:
        try:
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, RuntimeError) as error:
            raise WeightsFileError(
                f"{path}: a tensor could not be read ({brief(error)}); the file is truncated "
                "or damaged. Download or export it again."
            ) from None
    try:
        load_state_dict_checked(model, state, strict=not config.features_only)
    except ValueError as error:
        raise WeightsFileError(f"{path}: {error}") from None
    model.preprocess = dataclasses.replace(
        meta.preprocess, input_size=(config.in_chans, *meta.preprocess.input_size[1:])
    )
    model.labels = meta.labels
    return model.eval()
