"""Batch augmentation policies (kornia) and normalization."""

import pytest
import torch

from mobilenets.data.augment import POLICIES, Normalize, build_augmentation


@pytest.mark.parametrize("policy", POLICIES)
def test_policies_keep_shape_and_range(policy: str) -> None:
    torch.manual_seed(0)
    images = torch.rand(6, 3, 40, 40)
    out = build_augmentation(policy, 32, crop_scale=(0.3, 1.0))(images) if policy != "none" else images
    assert out.shape == ((6, 3, 32, 32) if policy != "none" else images.shape)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_augmentation_is_random_but_replays_from_the_seed() -> None:
    augment = build_augmentation("trivial", 32)
    images = torch.rand(4, 3, 32, 32)
    torch.manual_seed(5)
    first = augment(images)
    second = augment(images)
    torch.manual_seed(5)
    assert torch.equal(augment(images), first)
    assert not torch.equal(first, second)


def test_bad_policy_and_scale_are_refused() -> None:
    with pytest.raises(ValueError, match=r"augment='mixup' is unknown"):
        build_augmentation("mixup", 32)
    with pytest.raises(ValueError, match=r"crop_scale=\(0.0, 1.0\)"):
        build_augmentation("crop", 32, crop_scale=(0.0, 1.0))


def test_normalize_uses_the_given_statistics() -> None:
    out = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(torch.full((1, 3, 2, 2), 0.75))
    assert torch.allclose(out, torch.ones(1, 3, 2, 2))
