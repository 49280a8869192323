"""Shared fixtures: a small trained digits classifier for the deployment tests.

The export checks need predictions with real margins (an untrained network's logits are all
alike, and any quantization would "agree" with them). ``benchmarks/quick_digits.py`` trains
V1 at alpha 0.5 on 32 px digits in 10 epochs; the session fixture runs it once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenets import PreprocessConfig
from mobilenets.preprocess import preprocess_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from quick_digits import train_quick_digits


def digits_inputs(images: np.ndarray, preprocess: PreprocessConfig) -> torch.Tensor:
    """Digits uint8 (N, 32, 32, 3) through the package's own eval transform."""
    return torch.stack([preprocess_image(Image.fromarray(image), preprocess) for image in images])


@pytest.fixture(scope="session")
def digits_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A V1 (alpha 0.5, ReLU6, 32 px) digits classifier, trained for 10 epochs, as a weight file."""
    path = tmp_path_factory.mktemp("digits") / "digits_v1.safetensors"
    return train_quick_digits(path, "mobilenet_v1_0.5", size=32, epochs=10)
