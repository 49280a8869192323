"""mobilenets: the MobileNet family (V1, V2, V3) for PyTorch, built from the papers' tables."""

from mobilenets.convert import convert_weights
from mobilenets.layers import make_divisible
from mobilenets.model import FeatureInfo, MobileNet, MobileNetConfig
from mobilenets.preprocess import PreprocessConfig
from mobilenets.profile import profile
from mobilenets.registry import create_model, list_models, register_model
from mobilenets.weights import load_model, save_weights

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
