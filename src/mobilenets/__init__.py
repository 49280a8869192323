"""mobilenets: the MobileNet family (V1, V2, V3) for PyTorch, built from the papers' tables."""

import os

# OpenMP threads that spin while waiting for work burn the cores other processes need: on a
# busy 2-core machine a training step measured 30-70x slower with spinning than with sleeping
# threads. This must be set before torch loads its OpenMP runtime; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from mobilenets.layers import make_divisible
from mobilenets.model import FeatureInfo, MobileNet, MobileNetConfig
from mobilenets.preprocess import PreprocessConfig
from mobilenets.registry import create_model, list_models, register_model

__version__ = "0.1.0"

__all__ = [
    "FeatureInfo",
    "MobileNet",
    "MobileNetConfig",
    "PreprocessConfig",
    "create_model",
    "list_models",
    "make_divisible",
    "register_model",
]
