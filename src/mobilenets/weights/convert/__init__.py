"""Converting torchvision, timm and Keras MobileNet weights into mobilenets weight files.

``convert_weights(src, dst)`` reads a foreign file safely (h5py for Keras, ``weights_only``
unpickling or safetensors for PyTorch), detects which library wrote it, renames every tensor
onto our module names (one module per source), finds the config that fits the shapes, checks
that the result loads, and writes a ``.safetensors`` file that ``load_model`` rebuilds alone.

Converters never guess settings the tensors do not determine. timm's ``tf_mobilenetv3_*`` ports
and its own ``mobilenetv3_*`` models have identical state dicts but need different padding, BN
eps and preprocessing; unless ``timm_model``, a name stored in the file or the hub's
``config.json`` beside it says which, conversion stops with ``AmbiguousSourceError`` (a
``ConversionError``; exit code 2 on the command line). torchvision and Keras files have no such
twins: each layout comes from one library with one set of settings per structure.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from mobilenets.models.mobilenet import MobileNet
from mobilenets.output_paths import check_output_file
from mobilenets.weights.catalog import SOURCES
from mobilenets.weights.convert.common import AmbiguousSourceError, Converted
from mobilenets.weights.convert.keras import convert_keras
from mobilenets.weights.convert.timm import convert_timm, looks_like_timm
from mobilenets.weights.convert.torchvision import convert_torchvision, looks_like_torchvision
from mobilenets.weights.file_format import (
    is_mobilenets_file,
    mentioning,
    save_weights,
    training_checkpoint_advice,
)
from mobilenets.weights.imagenet_labels import NUM_IMAGENET_CLASSES, imagenet_labels
from mobilenets.weights.safe_load import KERAS_SUFFIXES, load_any_state_dict
from mobilenets.weights.state_fit import ConversionError

__all__ = [
    "SOURCES",
    "AmbiguousSourceError",
    "ConversionError",
    "Converted",
    "convert_file",
    "convert_weights",
    "detect_source",
]


def _is_keras_file(path: Path) -> bool:
    return path.suffix in KERAS_SUFFIXES


def detect_source(path: str | Path, state: dict[str, torch.Tensor] | None = None) -> str:
    """Which library wrote a weights file: 'keras', 'torchvision' or 'timm'.

    Args:
        path: the file.
        state: its state dict, if already loaded (PyTorch files only).

    Raises:
        ConversionError: the key names match none of the three.
    """
    path = Path(path)
    advice = training_checkpoint_advice(path)
    if advice:  # before loading: a checkpoint also holds the optimizer, which is no weights
        raise ConversionError(advice)
    if _is_keras_file(path):
        return "keras"
    state = state if state is not None else load_any_state_dict(path)
    if looks_like_torchvision(state):
        return "torchvision"
    if looks_like_timm(state):
        return "timm"
    if "stem.conv.weight" in state:
        raise ConversionError(
            f"{path} already uses mobilenets' names but has no metadata; load it with "
            "create_model(name) and model.load_state_dict(...), then save_weights(...)."
        )
    first = ", ".join(list(state)[:3])
    raise ConversionError(
        f"{path}: cannot tell which library wrote it (first keys: {first}). Supported: "
        "torchvision (features.0.0.weight ...), timm (conv_stem.weight ...) and Keras .h5/.keras."
    )


def convert_file(
    src: str | Path,
    arch: str | None = None,
    source: str | None = None,
    timm_model: str | None = None,
) -> Converted:
    """Convert a foreign weights file in memory (see ``convert_weights``).

    Raises:
        AmbiguousSourceError: a timm file that fits a ``tf_`` port and a timm-trained model,
            with nothing naming which (pass ``timm_model``).
        ConversionError: the file cannot be mapped.
    """
    src = Path(src)
    if not src.is_file():
        raise ConversionError(f"{src}: no such file")
    if source is not None and source not in SOURCES:
        raise ConversionError(f"source={source!r} is unknown; choose one of {', '.join(SOURCES)}")
    if source == "keras" or (source is None and _is_keras_file(src)):
        if not _is_keras_file(src):
            raise ConversionError(f"{src}: Keras weights are .h5, .weights.h5 or .keras files")
        return convert_keras(src, arch)
    if _is_keras_file(src):
        raise ConversionError(f"{src} is a Keras file, but source={source!r}; use --source keras")
    if is_mobilenets_file(src):
        raise ConversionError(
            f"{src} is already a mobilenets weight file; use it as it is (predict, eval, export and "
            "train --pretrained all take it), no conversion needed."
        )
    state = load_any_state_dict(src)
    detected = detect_source(src, state)
    if source is not None and source != detected:
        raise ConversionError(f"{src}: source={source!r} was given, but its keys are {detected}'s")
    if detected == "torchvision":
        return convert_torchvision(state, arch, name=src.name)
    return convert_timm(state, arch, model_name=timm_model, path=src)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_weights(
    src: str | Path,
    dst: str | Path,
    arch: str | None = None,
    source: str | None = None,
    timm_model: str | None = None,
) -> MobileNet:
    """Convert torchvision, timm or Keras MobileNet weights into a mobilenets weight file.

    Args:
        src: the foreign file (``.pth``/``.pt``/``.bin``/``.safetensors``/``.h5``/``.keras``).
        dst: where to write the ``.safetensors`` result.
        arch: our model name ('mobilenet_v1_0.5_160'); guessed from the weights if None.
        source: 'torchvision', 'timm' or 'keras'; detected from the file if None.
        timm_model: timm's model name, for padding, BN eps and preprocessing of timm files
            that come without a ``config.json`` (or a model name stored in the file).

    Returns:
        The converted model (eval mode, with ``preprocess`` and ``labels``).

    Raises:
        AmbiguousSourceError: a timm V3-Large/Small file that fits both the ``tf_`` port and
            timm's own model, with nothing naming which; nothing is written. The message names
            both candidates and how they differ.
        ConversionError: the file cannot be mapped; says what it looks like and why.
    """

    # Checked before the work; never the source itself, nor a file of another kind.
    reads = [src] if Path(src).is_file() else []
    dst = check_output_file(dst, (".safetensors",), "the converted file", protect=reads, create_parent=True)
    with mentioning(src):  # every message names the file
        converted = convert_file(src, arch, source, timm_model)
        model = converted.build()
    if model.config.num_classes == NUM_IMAGENET_CLASSES:
        model.labels = imagenet_labels()
    save_weights(model, dst, source=f"{converted.source} sha256={file_sha256(src)}")
    return model
