"""Batch augmentation on the training device, from kornia (torchvision's transforms do not install here).

Augmenting whole batches after they reach the device keeps the data loader trivial (decode and
resize only) and lets a GPU do the per-pixel work. kornia draws its random parameters from
torch's global generator, which a checkpoint saves and ``--resume`` restores, so an
interrupted run replays exactly the same crops and flips.

Policies:
    none         no augmentation (the images as the loader gives them)
    crop         random resized crop
    crop-flip    random resized crop + horizontal flip (the standard ImageNet recipe)
    randaugment  crop-flip + RandAugment (2 ops at magnitude 9, Cubuk et al. 2020)
    trivial      crop-flip + TrivialAugment (one op, random magnitude; Müller & Hutter 2021)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

POLICIES = ("none", "crop", "crop-flip", "randaugment", "trivial")


def build_augmentation(
    policy: str, size: int, crop_scale: tuple[float, float] = (0.08, 1.0), hflip: bool = True
) -> nn.Module:
    """The training augmentation for ``policy``: a module mapping (B, 3, H, W) in [0, 1] to the same.

    Args:
        policy: one of ``POLICIES``.
        size: output height and width (random resized crop resizes back to it).
        crop_scale: range of the crop's area as a fraction of the image; (0.08, 1) is the
            Inception recipe, too aggressive for small networks on small images, where
            (0.25, 1) or more is usual.
        hflip: flip horizontally (off for data where left and right differ, such as digits).

    Returns:
        An ``nn.Module``; ``nn.Identity`` for ``'none'``.
    """
    if policy not in POLICIES:
        raise ValueError(f"augment={policy!r} is unknown; choose one of {', '.join(POLICIES)}")
    if not 0.0 < crop_scale[0] <= crop_scale[1] <= 1.0:
        raise ValueError(f"crop_scale={crop_scale} must satisfy 0 < low <= high <= 1")
    if policy == "none":
        return nn.Identity()
    try:
        import kornia.augmentation as K
        from kornia.augmentation import auto
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError(
            f"augment={policy!r} needs kornia: pip install 'mobilenets[train]', or use --augment none"
        ) from None

    ops: list[Any] = [K.RandomResizedCrop((size, size), scale=crop_scale)]
    if hflip and policy != "crop":
        ops.append(K.RandomHorizontalFlip())
    if policy == "randaugment":
        ops.append(auto.RandAugment(n=2, m=9))
    elif policy == "trivial":
        ops.append(auto.TrivialAugment())
    return BatchAugment(K.AugmentationSequential(*ops))


class BatchAugment(nn.Module):
    """Runs a kornia pipeline without autograd and clamps the result to [0, 1]."""

    def __init__(self, pipeline: nn.Module) -> None:
        super().__init__()
        self.pipeline = pipeline

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.pipeline(images)  # (B, 3, H, W)
        return out.clamp_(0.0, 1.0)


class Normalize(nn.Module):
    """(x - mean) / std per channel, the model's own preprocessing statistics."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std
