"""How images must be prepared for a model: the preprocessing config that travels with it."""

from __future__ import annotations

from dataclasses import dataclass

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
