"""How images must be prepared for a model: the preprocessing config that travels with it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# TF/Keras MobileNets take pixels scaled to [-1, 1]: (x / 255 - 0.5) / 0.5.
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class PreprocessConfig:
    """The evaluation preprocessing a model expects.

    Args:
        input_size: (channels, height, width) fed to the network.
        mean: per-channel mean subtracted after scaling pixels to [0, 1].
        std: per-channel standard deviation divided by after that.
        interpolation: resampling filter for the resize ('bilinear' or 'bicubic').
        crop_pct: fraction of the resized short side kept by the center crop; the
            resize target is input_size / crop_pct (224 / 0.875 = 256, torchvision's recipe).
    """

    input_size: tuple[int, int, int] = (3, 224, 224)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    crop_pct: float = 0.875


_RESAMPLING = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST", "lanczos": "LANCZOS"}


def preprocess_image(image: Image.Image, config: PreprocessConfig) -> torch.Tensor:
    """The evaluation transform: resize the short side, center crop, scale, normalize.

    The short side is resized to ``floor(size / crop_pct)`` (256 for 224 at 0.875, the
    torchvision/timm recipe) and the center ``size`` x ``size`` is kept. ``crop_pct=1.0``
    resizes straight to the input size after the crop, as Keras' ``load_img`` does for
    square images.

    Args:
        image: an RGB (or, for 1-channel models, any) Pillow image.
        config: the model's preprocessing config.

    Returns:
        A float tensor (C, H, W).
    """
    channels, height, width = config.input_size
    try:
        resample = getattr(Image.Resampling, _RESAMPLING[config.interpolation])
    except KeyError:
        raise ValueError(
            f"interpolation={config.interpolation!r} is unknown; choose one of {sorted(_RESAMPLING)}"
        ) from None
    image = image.convert("L" if channels == 1 else "RGB")
    scale_h, scale_w = math.floor(height / config.crop_pct), math.floor(width / config.crop_pct)
    # Resize so the short side matches, keeping the aspect ratio.
    ratio = max(scale_h / image.height, scale_w / image.width)
    new_size = (max(width, round(image.width * ratio)), max(height, round(image.height * ratio)))
    image = image.resize(new_size, resample)
    left, top = (image.width - width) // 2, (image.height - height) // 2
    image = image.crop((left, top, left + width, top + height))
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[:, :, None]
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)  # (C, H, W)
    mean = torch.tensor(config.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(config.std, dtype=torch.float32).view(-1, 1, 1)
    return (tensor - mean) / std
