"""The built-in dataset: scikit-learn's real handwritten digits, upscaled to RGB images.

1,797 scans of the digits 0-9 from 43 writers (UCI "Optical Recognition of Handwritten
Digits"), 8x8 pixels with 17 gray levels, ship inside scikit-learn. Upscaled, they let every
job (training, evaluation, calibration, prediction) run with no data of the user's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

CLASS_NAMES = [str(digit) for digit in range(10)]
HELD_OUT_FRACTION = 0.25
SPLIT_SEED = 0


@dataclass(frozen=True)
class DigitsSplit:
    """Images (N, size, size, 3) uint8 and integer labels (N,)."""

    images: np.ndarray
    labels: np.ndarray


def load_digits(size: int = 32) -> DigitsSplit:
    """All 1,797 digits as ``size`` x ``size`` RGB uint8 images (white strokes on black).

    Raises:
        ValueError: ``size`` is below 8, the scans' own resolution.
    """
    if size < 8:
        raise ValueError(f"size={size} is below the digits' native 8 px; choose size >= 8")
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError(
            "the built-in 'digits' dataset needs scikit-learn: pip install 'mobilenets[demo]'"
        ) from None
    bunch = sklearn_digits()
    # 0..16 gray levels -> 0..255, then a smooth (bicubic) upscale like a real photo would be.
    raw = (bunch.images * (255.0 / 16.0)).round().astype(np.uint8)
    images = np.stack(
        [
            np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC).convert("RGB"))
            for img in raw
        ]
    )
    return DigitsSplit(images=images, labels=bunch.target.astype(np.int64))


def split_digits(
    size: int = 32, held_out: float = HELD_OUT_FRACTION, seed: int = SPLIT_SEED
) -> tuple[DigitsSplit, DigitsSplit]:
    """The fixed, stratified train / held-out split (25% held out, seed 0 by default).

    Returns:
        ``(train, held_out)``, each with every class in proportion.
    """
    from sklearn.model_selection import train_test_split

    data = load_digits(size)
    train_idx, val_idx = train_test_split(
        np.arange(len(data.labels)), test_size=held_out, stratify=data.labels, random_state=seed
    )
    pick = lambda idx: DigitsSplit(data.images[idx], data.labels[idx])  # noqa: E731
    return pick(train_idx), pick(val_idx)
