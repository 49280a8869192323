"""Reading foreign PyTorch checkpoints without ever running code from them.

A ``.pth`` / ``.pt`` / ``.bin`` file is a pickle, and unpickling can call any function the file
names: a weights file from the internet can carry a payload that runs on load. Everything here
goes through ``torch.load(weights_only=True)``, whose unpickler only rebuilds tensors and plain
containers and refuses every other global *before* calling it. A refusal becomes an
``UnsafeCheckpointError`` that says what the file tried to load and how to get a safe file.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from mobilenets.printable import brief

PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".tar")
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")  # read with h5py by the Keras converter, never unpickled
WEIGHT_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES, *KERAS_SUFFIXES)
# Training checkpoints wrap the weights; these are the keys the common trainers use.
_WRAPPER_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model_state_dict", "model", "module")


class UnsafeCheckpointError(ValueError):
    """A pickle that references code, refused before anything in it ran."""


def load_pickled_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a pickled PyTorch checkpoint, loaded with ``weights_only=True``.

    Args:
        path: a ``torch.save`` file (``.pth``, ``.pt``, ``.bin``, ...).

    Returns:
        The tensors by name, unwrapped from a training checkpoint if needed and with a
        ``module.`` (DataParallel) prefix removed.

    Raises:
        UnsafeCheckpointError: the pickle names a function or class other than tensor
            rebuilding; nothing it names has been called.
        ValueError: the file is not a PyTorch checkpoint or holds no tensors.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it did not write itself; the refusal below
            # (or success) is what matters, not the protocol number.
            warnings.simplefilter("ignore", UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        kind = _not_a_checkpoint(path)
        if kind:  # gzip, NumPy, text...: no pickle at all, so nothing was refused
            raise ValueError(f"{path}: not a PyTorch checkpoint ({kind}); give a torch.save file") from None
        raise UnsafeCheckpointError(f"{path}: refused to unpickle: {refusal_reason(str(error))}") from None
    except PermissionError:
        raise  # the error boundary names the file and says to check its permissions
    except Exception as error:  # truncated, random bytes, text: anything torch cannot read
        reason = brief(error)
        raise ValueError(
            f"{path}: not a readable PyTorch checkpoint ({type(error).__name__}: {reason}); it is "
            "truncated or not a torch.save file. Download or save it again."
        ) from None
    return unwrap_state_dict(loaded, path)


# How common files that are not checkpoints begin.
_MAGIC = {
    b"\x1f\x8b": "it is gzip-compressed",
    b"\x93NUMPY": "it is a NumPy .npy array",
    b"\x89HDF": "it is an HDF5 file (Keras weights are .h5 or .keras)",
    b"\x89PNG": "it is a PNG image",
    b"\xff\xd8\xff": "it is a JPEG image",
}


def _not_a_checkpoint(path: Path) -> str | None:
    """What ``path`` is, when its first bytes show it is neither a zip nor a pickle."""
    with open(path, "rb") as file:
        head = file.read(8)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if head[:2] == b"PK" or head[:1] == b"\x80":  # torch.save's zip, or a pickle (protocol 2+)
        return None
    return f"it starts with bytes {head[:4].hex(' ')}, neither a zip nor a pickle"


def refusal_reason(message: str) -> str:
    """Why torch's weights-only unpickler stopped, in words, with the fix."""
    fix = "If the file is yours, re-save it with torch.save(model.state_dict(), ...) or as .safetensors."
    match = re.search(r"GLOBAL ([\w.]+)", message)
    if match:
        return (
            f"the file references '{match.group(1)}', which is code, not tensor data. A pickle can run "
            f"code while loading, so loading stopped before anything in it ran. {fix}"
        )
    match = re.search(r"WeightsUnpickler error:\s*(.+)", message)
    detail = match.group(1).strip()[:160] if match else "unknown instruction"
    return (
        f"it uses a pickle instruction that weights-only loading does not allow ({detail}), so it is "
        f"not a plain torch.save state dict; nothing in it was run. {fix}"
    )


def unwrap_state_dict(loaded: Any, path: str | Path = "<state dict>") -> dict[str, torch.Tensor]:
    """The tensor dict inside a loaded checkpoint (see ``load_pickled_state_dict``)."""
    for _ in range(3):  # checkpoints nest at most a couple of levels
        if isinstance(loaded, Mapping) and not _is_tensor_dict(loaded):
            inner = next((loaded[key] for key in _WRAPPER_KEYS if isinstance(loaded.get(key), Mapping)), None)
            if inner is None:
                break
            loaded = inner
    if not isinstance(loaded, Mapping) or not _is_tensor_dict(loaded):
        raise ValueError(
            f"{path}: holds no state dict (found {type(loaded).__name__}); expected a dict of "
            "tensors as written by torch.save(model.state_dict(), ...)."
        )
    state = {str(key): value for key, value in loaded.items() if isinstance(value, torch.Tensor)}
    if all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def _is_tensor_dict(mapping: Mapping) -> bool:
    return bool(mapping) and all(isinstance(v, torch.Tensor) for v in mapping.values())


def load_any_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a pickled checkpoint, never executing code.

    Raises:
        ValueError: unknown suffix, unreadable file, or (``UnsafeCheckpointError``) a code payload.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError) as error:
            reason = brief(error)
            raise ValueError(
                f"{path}: not a readable safetensors file ({reason}); it is truncated or not a "
                "weights file. Download or save it again."
            ) from None
    if path.suffix in PICKLE_SUFFIXES:
        return load_pickled_state_dict(path)
    raise ValueError(
        f"{path}: unknown weights format {path.suffix!r}; expected .safetensors, "
        f"{', '.join(PICKLE_SUFFIXES)} (PyTorch) or .h5/.keras (Keras)"
    )
