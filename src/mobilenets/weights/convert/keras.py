"""Keras MobileNet, MobileNetV2 and MobileNetV3Large/Small weights -> mobilenets.

Read with h5py alone (no Keras, no TensorFlow, no code execution), in the three layouts Keras has
used:

- legacy HDF5 (``.h5``): the official keras-applications files and Keras 2's ``save_weights`` /
  ``model.save``. Layers are listed in model order in the ``layer_names`` attribute, each with
  its ``weight_names`` (``conv_dw_1/depthwise_kernel:0``, ``Conv/BatchNorm/gamma:0``, ...).
- Keras 3 ``.weights.h5``: ``layers/<class name>[_N]/vars/<i>``, numbered per layer class in
  model order, with unnamed variables in build order.
- Keras 3 ``.keras``: a zip holding such a ``model.weights.h5`` next to ``config.json``.

Layer names changed between Keras 2 and 3 (``expanded_conv/depthwise`` became
``expanded_conv_depthwise``), so the mapping does not rely on them. Instead, each layer is
classified as convolution, depthwise convolution, batch norm or dense, and the n-th layer of a
kind in the file goes to the n-th layer of that kind in our model; every shape is then checked.
That is the same rule Keras itself applies when it loads a legacy file into a model.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mobilenets.models.mobilenet import MobileNet, MobileNetConfig
from mobilenets.models.preprocess import INCEPTION_MEAN, INCEPTION_STD, PreprocessConfig
from mobilenets.models.registry import parse_model_name
from mobilenets.weights.convert.common import Converted, fix_up
from mobilenets.weights.state_fit import ConversionError, infer_config

# Architectures whose layer sequence we try to pair with a Keras file, in this order.
KERAS_ARCHS = (
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "mobilenet_v3_large_minimal",
    "mobilenet_v3_small_minimal",
)
# TF-slim evaluates MobileNets on a central 87.5% crop resized bilinearly, pixels in [-1, 1].
# Keras V3's in-model Rescaling(1/127.5, offset=-1) is this same normalisation, so every
# converted Keras model takes [-1, 1] input.
KERAS_PREPROCESS = PreprocessConfig(mean=INCEPTION_MEAN, std=INCEPTION_STD, crop_pct=0.875)
_BN_ROLES = ("gamma", "beta", "moving_mean", "moving_variance")


@dataclass
class KerasLayer:
    """One Keras layer with weights: its name, kind and named arrays."""

    name: str
    kind: str  # 'conv', 'depthwise', 'bn' or 'dense'
    arrays: dict[str, np.ndarray]


def _require_h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise ConversionError(
            "reading Keras files needs h5py; install it with `pip install 'mobilenets[keras]'`"
        ) from None
    return h5py


def _kind(name: str, arrays: dict[str, np.ndarray]) -> str:
    if "gamma" in arrays or "moving_mean" in arrays:
        return "bn"
    lowered = name.lower()
    if "depthwise_kernel" in arrays or "depthwise" in lowered or "conv_dw" in lowered:
        return "depthwise"
    if arrays["kernel"].ndim == 2:
        return "dense"
    return "conv"


def _decode(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _read_legacy(group: Any) -> list[KerasLayer]:
    """Layers of a legacy HDF5 weights group, in model order."""
    layers = []
    for layer_name in (_decode(n) for n in group.attrs["layer_names"]):
        if layer_name not in group:
            raise ConversionError(_missing(f"layer {layer_name!r}"))
        layer_group = group[layer_name]
        weight_names = [_decode(n) for n in layer_group.attrs.get("weight_names", [])]
        if not weight_names:
            continue
        arrays = {}
        for weight_name in weight_names:
            role = weight_name.split("/")[-1].split(":")[0]  # 'conv1_bn/gamma:0' -> 'gamma'
            if weight_name not in layer_group:
                raise ConversionError(_missing(f"weight {weight_name!r}"))
            arrays[role] = np.asarray(layer_group[weight_name])
        if "depthwise_kernel" in arrays:
            arrays["kernel"] = arrays["depthwise_kernel"]
        layers.append(KerasLayer(layer_name, _kind(layer_name, arrays), arrays))
    return layers


def _missing(what: str) -> str:
    return (
        f"the file lists {what} but holds no data for it: it is truncated or damaged; "
        "download or save it again"
    )


_KERAS3_NAME = re.compile(r"^(?P<cls>[a-z0-9_]+?)(?:_(?P<index>\d+))?$")
_KERAS3_KINDS = {
    "conv2d": "conv",
    "depthwise_conv2d": "depthwise",
    "batch_normalization": "bn",
    "dense": "dense",
}


def _read_keras3(group: Any) -> list[KerasLayer]:
    """Layers of a Keras 3 weights file, ordered per kind (the order pairing needs)."""
    found: list[tuple[str, int, KerasLayer]] = []
    for layer_name, layer_group in group["layers"].items():
        if "vars" not in layer_group or len(layer_group["vars"]) == 0:
            continue
        match = _KERAS3_NAME.match(layer_name)
        kind = _KERAS3_KINDS.get(match["cls"]) if match else None
        if kind is None or match is None:
            raise ConversionError(
                f"layer {layer_name!r} in the Keras file is not a Conv2D, DepthwiseConv2D, "
                "BatchNormalization or Dense layer; this is not a Keras MobileNet."
            )
        values = [np.asarray(layer_group["vars"][str(i)]) for i in range(len(layer_group["vars"]))]
        roles = _BN_ROLES if kind == "bn" else ("kernel", "bias")
        layer = KerasLayer(layer_name, kind, dict(zip(roles, values, strict=False)))
        found.append((kind, int(match["index"] or 0), layer))
    found.sort(key=lambda item: (item[0], item[1]))
    return [layer for _, _, layer in found]


def read_keras_layers(path: str | Path) -> tuple[list[KerasLayer], dict[str, Any]]:
    """All layers with weights in a Keras file, and what its config says (for ``.keras``).

    Returns:
        ``(layers, info)``; ``info`` may hold 'input_size' and 'name' from a ``.keras`` config.
    """
    h5py = _require_h5py()
    path = Path(path)
    info: dict[str, Any] = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "model.weights.h5" not in names:
                raise ConversionError(f"{path} is a zip without model.weights.h5: not a .keras file")
            if "config.json" in names:
                info = _info_from_config(json.loads(archive.read("config.json")))
            data = io.BytesIO(archive.read("model.weights.h5"))
        with h5py.File(data, "r") as handle:
            return _read_keras3(handle), info
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ConversionError(f"{path} is not an HDF5 file Keras could have written ({error})") from None
    with handle:
        if "layers" in handle:
            return _read_keras3(handle), info
        group = handle.get("model_weights", handle)
        if "layer_names" not in group.attrs:
            raise ConversionError(f"{path} is an HDF5 file without Keras weights (no layer_names)")
        return _read_legacy(group), info


def _info_from_config(config: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"name": config.get("config", {}).get("name")}
    for layer in config.get("config", {}).get("layers", []):
        if layer.get("class_name") == "InputLayer":
            shape = layer.get("config", {}).get("batch_shape") or layer.get("config", {}).get(
                "batch_input_shape"
            )
            if shape and shape[1] and shape[1] == shape[2]:
                info["input_size"] = int(shape[1])
    return info


def _slots(model: MobileNet) -> list[tuple[str, str, nn.Module]]:
    """Our layers with weights in model order, each with the Keras kind it pairs with."""
    family = model.config.spec.family
    slots: list[tuple[str, str, nn.Module]] = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            depthwise = module.groups > 1 and module.groups == module.in_channels
            slots.append((name, "depthwise" if depthwise else "conv", module))
        elif isinstance(module, nn.BatchNorm2d):
            slots.append((name, "bn", module))
        elif isinstance(module, nn.Linear):
            # V2's classifier is a Dense layer; V1's and V3's head layers are 1x1 convolutions.
            slots.append((name, "dense" if family == "v2" else "conv", module))
    return slots


def _to_torch(layer: KerasLayer, kind: str) -> dict[str, torch.Tensor]:
    """A Keras layer's arrays as PyTorch parameters (suffix -> tensor)."""
    arrays = {role: torch.from_numpy(np.ascontiguousarray(value)) for role, value in layer.arrays.items()}
    if kind == "bn":
        return {
            "weight": arrays["gamma"],
            "bias": arrays["beta"],
            "running_mean": arrays["moving_mean"],
            "running_var": arrays["moving_variance"],
        }
    kernel = arrays["kernel"]
    if kind == "conv":  # (kh, kw, in, out) -> (out, in, kh, kw)
        weight = kernel.permute(3, 2, 0, 1)
    elif kind == "depthwise":  # (kh, kw, in, multiplier) -> (in * multiplier, 1, kh, kw)
        kh, kw, channels, multiplier = kernel.shape
        weight = kernel.permute(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw)
    else:  # dense (in, out) -> (out, in)
        weight = kernel.t()
    result = {"weight": weight}
    if "bias" in arrays:
        result["bias"] = arrays["bias"]
    return result


def pair_layers(layers: list[KerasLayer], arch: str) -> dict[str, torch.Tensor] | None:
    """Pair the file's layers with ``arch``'s, kind by kind; None when the counts differ."""
    with torch.device("meta"):
        skeleton = MobileNet(MobileNetConfig(arch=arch, num_classes=1000))
    slots = _slots(skeleton)
    by_kind: dict[str, list[KerasLayer]] = {}
    for layer in layers:
        by_kind.setdefault(layer.kind, []).append(layer)
    expected: dict[str, list[str]] = {}
    for name, kind, _ in slots:
        expected.setdefault(kind, []).append(name)
    # A file saved with include_top=False lacks the head layers at the end of the model.
    head = ("head_fc", "classifier")
    state: dict[str, torch.Tensor] = {}
    for kind in ("conv", "depthwise", "bn", "dense"):
        names = expected.get(kind, [])
        found = by_kind.get(kind, [])
        if len(found) != len(names):
            without_head = [n for n in names if n not in head]
            if len(found) != len(without_head):
                return None
            names = without_head
        for name, layer in zip(names, found, strict=True):
            for suffix, tensor in _to_torch(layer, kind).items():
                state[f"{name}.{suffix}"] = tensor
    return state


_SIZE_IN_NAME = re.compile(r"_(\d{2,3})(?:_tf)?(?:_no_top)?(?:\.weights)?\.(?:h5|hdf5|keras)$")


def convert_keras(path: str | Path, arch: str | None = None) -> Converted:
    """Convert a Keras MobileNet / MobileNetV2 / MobileNetV3 file.

    Args:
        path: ``.h5``, ``.weights.h5`` or ``.keras``.
        arch: our model name to convert to (e.g. 'mobilenet_v1_0.25_128'); guessed if None.

    Returns:
        The converted weights, with TF 'SAME' padding, BN eps 1e-3 and (V1) ReLU6 set.
    """
    path = Path(path)
    layers, info = read_keras_layers(path)
    archs = [arch_base(arch)] if arch else list(KERAS_ARCHS)
    state = None
    for candidate in archs:
        state = pair_layers(layers, candidate)
        if state is not None:
            break
    if state is None:
        counts = {
            kind: sum(layer.kind == kind for layer in layers) for kind in ("conv", "depthwise", "bn", "dense")
        }
        raise ConversionError(
            f"{path}: its layers ({counts}) match none of {archs}. Keras MobileNet, MobileNetV2 "
            "and MobileNetV3Large/Small (any alpha, minimalistic or not) are supported."
        )
    if candidate.startswith("mobilenet_v3") and "head_fc.weight" not in state:
        raise ConversionError(
            f"{path} is a MobileNetV3 saved with include_top=False: it lacks the 1x1 head layer "
            "(1280 / 1024 wide) that every mobilenets V3 has. Convert the include_top=True file, "
            "then use create_model(..., weights=FILE, num_classes=N) for a new classifier."
        )
    state = fix_up(state)
    fields: dict[str, Any] = {"padding": "tf_same", "bn_eps": 1e-3}
    if candidate == "mobilenet_v1":
        fields["act"] = "relu6"
    # Keras V1/V2 publish one file per input size; the size is in the file name (or the
    # .keras config). A size in the --arch name wins.
    size = info.get("input_size") or _size_from_name(path.name)
    if size and (arch is None or "resolution_mult" not in parse_model_name(arch)[1]):
        fields["resolution_mult"] = size / 224
    config = infer_config(state, arch=arch, **fields)
    source = f"keras:{path.name}"
    return Converted(state, config, KERAS_PREPROCESS, source)


def _size_from_name(file_name: str) -> int | None:
    match = _SIZE_IN_NAME.search(file_name)
    return int(match.group(1)) if match else None


def arch_base(name: str) -> str:
    """The base architecture of a model name ('mobilenet_v1_0.5_160' -> 'mobilenet_v1')."""
    return parse_model_name(name)[0]
