"""mobilenets: the MobileNet family (V1, V2, V3) for PyTorch, built from the papers' tables."""

from mobilenets.cost.profiler import profile
from mobilenets.models.layers import make_divisible
from mobilenets.models.mobilenet import FeatureInfo, MobileNet, MobileNetConfig
from mobilenets.models.preprocess import PreprocessConfig
from mobilenets.models.registry import list_models, register_model
from mobilenets.weights.convert import convert_weights
from mobilenets.weights.create import create_model
from mobilenets.weights.file_format import load_model, save_weights

__version__ = "0.1.0"

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
