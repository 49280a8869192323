"""Test-wide setup, applied before pytest imports any test module, and shared fixtures.

- Keras (the reference implementation) must run on its torch backend; the backend is chosen
  once, when keras is first imported.
- Sleeping OpenMP threads: tests start training subprocesses (resume, 2-rank torchrun) on a
  2-core machine, where spinning idle threads made a step 30-70x slower. This must be set
  before torch loads its OpenMP runtime; subprocesses inherit it. An explicit setting wins.
- A small trained digits classifier for the deployment tests: the export checks need
  predictions with real margins (an untrained network's logits are all alike, and any
  quantization would "agree" with them).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenets import PreprocessConfig
from mobilenets.models.preprocess import preprocess_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def digits_inputs(images: np.ndarray, preprocess: PreprocessConfig) -> torch.Tensor:
    """Digits uint8 (N, 32, 32, 3) through the package's own eval transform."""
    return torch.stack([preprocess_image(Image.fromarray(image), preprocess) for image in images])


@pytest.fixture(scope="session")
def digits_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits classifier trained with the demo recipe (V1 α=0.5, 32 px), shortened to 10 epochs.

    About 98% held-out top-1 (its best epoch is near 8), enough margin for the int8 checks.
    """
    from mobilenets.demo import DEMO_RECIPE
    from mobilenets.train import fit
    from mobilenets.train.config import TrainConfig

    def train(out: Path) -> Path:
        config = TrainConfig(
            **{**DEMO_RECIPE, "epochs": 10, "out": str(out), "progress": False, "threads": 2}
        )
        return Path(fit(config).final_weights)

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return train(tmp_path_factory.mktemp("digits"))
    # Under pytest-xdist, every worker would train its own copy: the first trains, the others wait
    # for it and load the file. The parent of a worker's temp folder is this session's, shared.
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent
    with FileLock(str(shared / "digits.lock")):
        done = shared / "digits" / "final.safetensors"
        return done if done.exists() else train(shared / "digits")
