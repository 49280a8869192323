"""Small ImageFolder trees of real digits, for the tests that calibrate or check on a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def digit_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """``images`` as PNGs under ``root/<label>/``, the layout that labels them; returns ``root``."""
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        (root / str(int(label))).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / str(int(label)) / f"{index}.png")
    return root
