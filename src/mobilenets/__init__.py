"""mobilenets: the MobileNet family (V1, V2, V3) for PyTorch, built from the papers' tables.

``import mobilenets`` loads the model definition, the profiler and the weights file format. The
converters, the downloader and every runtime load only when they are used (``convert_weights``
below is resolved on first access).
"""

from typing import Any

from mobilenets.cost.profiler import profile
from mobilenets.models.layers import make_divisible
from mobilenets.models.mobilenet import FeatureInfo, MobileNet, MobileNetConfig
from mobilenets.models.preprocess import PreprocessConfig
from mobilenets.models.registry import list_models, register_model
from mobilenets.version import __version__ as __version__
from mobilenets.weights.create import create_model
from mobilenets.weights.file_format import load_model, save_weights

__all__ = [
    "FeatureInfo",
    "MobileNet",
    "MobileNetConfig",
    "PreprocessConfig",
    "convert_weights",
    "create_model",
    "list_models",
    "load_model",
    "make_divisible",
    "profile",
    "register_model",
    "save_weights",
]


def __getattr__(name: str) -> Any:
    if name == "convert_weights":  # the converters: loaded on first use, not by `import mobilenets`
        from mobilenets.weights.convert import convert_weights

        return convert_weights
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
