"""weights.convert.common: the fix-ups every converter shares, and building the converted model."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mobilenets import MobileNet, MobileNetConfig, PreprocessConfig
from mobilenets.models.preprocess import INCEPTION_MEAN, INCEPTION_STD
from mobilenets.weights.convert.common import Converted, conv_to_linear, fix_up
from mobilenets.weights.state_fit import ConversionError

TINY_V1 = MobileNetConfig(arch="mobilenet_v1", width_mult=0.25, resolution_mult=32 / 224, num_classes=1000)
TINY_V3 = MobileNetConfig(arch="mobilenet_v3_small", width_mult=0.5, resolution_mult=32 / 224, num_classes=7)


def random_state(config: MobileNetConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict of ``config``'s model with every float tensor random (BN statistics too)."""
    torch.manual_seed(seed)
    state = MobileNet(config).state_dict()
    return {
        key: (torch.rand_like(value) + 0.5 if key.endswith("running_var") else torch.randn_like(value))
        if value.is_floating_point()
        else value
        for key, value in state.items()
    }


# conv_to_linear


def test_conv_to_linear_drops_the_1x1_kernel_dims() -> None:
    weight = torch.arange(24.0).reshape(4, 6, 1, 1)
    linear = conv_to_linear(weight)
    assert linear.shape == (4, 6)
    assert torch.equal(linear, torch.arange(24.0).reshape(4, 6))


def test_conv_to_linear_leaves_a_matrix_alone() -> None:
    weight = torch.randn(4, 6)
    assert conv_to_linear(weight) is weight


def test_conv_to_linear_refuses_a_kernel_larger_than_1x1() -> None:
    with pytest.raises(ConversionError, match=r"\(3, 3\) kernel; only 1x1"):
        conv_to_linear(torch.randn(4, 6, 3, 3))


# fix_up


def test_a_1x1_conv_classifier_becomes_a_linear_weight() -> None:
    state = random_state(TINY_V3)
    expected = state["classifier.weight"].clone()  # (7, 1024)
    head = state["head_fc.weight"].clone()
    foreign = dict(state)
    foreign["classifier.weight"] = expected[:, :, None, None]  # as TF-slim/Keras store it
    foreign["head_fc.weight"] = head[:, :, None, None]
    fixed = fix_up(foreign)
    assert fixed["classifier.weight"].shape == (7, expected.shape[1])
    assert torch.equal(fixed["classifier.weight"], expected)
    assert torch.equal(fixed["head_fc.weight"], head)
    MobileNet(TINY_V3).load_state_dict(fixed)  # loads as is


def test_a_1001_class_head_drops_the_background_row() -> None:
    state = random_state(TINY_V1)
    weight, bias = state["classifier.weight"], state["classifier.bias"]  # (1000, 256), (1000,)
    background_w = torch.full((1, weight.shape[1]), 99.0)
    background_b = torch.tensor([99.0])
    foreign = dict(state)
    foreign["classifier.weight"] = torch.cat([background_w, weight])[:, :, None, None]
    foreign["classifier.bias"] = torch.cat([background_b, bias])
    fixed = fix_up(foreign)
    assert fixed["classifier.weight"].shape == (1000, weight.shape[1])
    assert torch.equal(fixed["classifier.weight"], weight)  # row 0 (background) gone, order kept
    assert torch.equal(fixed["classifier.bias"], bias)
    assert not (fixed["classifier.weight"] == 99.0).any()
    assert fixed["classifier.weight"].is_contiguous() and fixed["classifier.bias"].is_contiguous()


def test_a_1000_class_head_is_kept_whole() -> None:
    state = random_state(TINY_V1)
    fixed = fix_up(state)
    assert torch.equal(fixed["classifier.weight"], state["classifier.weight"])
    assert torch.equal(fixed["classifier.bias"], state["classifier.bias"])


def test_num_batches_tracked_is_filled_in_for_every_batch_norm() -> None:
    state = random_state(TINY_V1)
    batch_norms = [key[: -len("running_var")] for key in state if key.endswith("running_var")]
    assert batch_norms  # the tiny V1 has BatchNorms
    foreign = {key: value for key, value in state.items() if not key.endswith("num_batches_tracked")}
    fixed = fix_up(foreign)
    for prefix in batch_norms:
        tracked = fixed[prefix + "num_batches_tracked"]
        assert tracked.dtype == torch.long and tracked.dim() == 0 and tracked.item() == 0
    assert set(fixed) == set(state)
    MobileNet(TINY_V1).load_state_dict(fixed)  # strict: no key missing


def test_num_batches_tracked_already_there_is_kept() -> None:
    state = random_state(TINY_V1)
    state["stem.bn.num_batches_tracked"] = torch.tensor(1234, dtype=torch.long)
    assert fix_up(state)["stem.bn.num_batches_tracked"].item() == 1234


def test_fix_up_returns_contiguous_copies_and_leaves_its_input_alone() -> None:
    state = random_state(TINY_V1)
    transposed = state["stem.conv.weight"].transpose(2, 3)  # a non-contiguous view
    state["stem.conv.weight"] = transposed
    before = {key: value.clone() for key, value in state.items()}
    fixed = fix_up(state)
    assert fixed is not state
    assert all(value.is_contiguous() for value in fixed.values())
    assert torch.equal(fixed["stem.conv.weight"], transposed)
    fixed["stem.bn.weight"].add_(1.0)  # a copy, not a view of the input
    for key, value in before.items():
        assert torch.equal(state[key], value), key


def test_fix_up_detaches_tensors_that_need_grad() -> None:
    state = {"classifier.weight": torch.randn(3, 4, requires_grad=True), "classifier.bias": torch.zeros(3)}
    assert not fix_up(state)["classifier.weight"].requires_grad


# Converted.build


def test_build_loads_the_weights_in_eval_mode_with_the_preprocess_at_the_config_size() -> None:
    config = dataclasses.replace(TINY_V1, num_classes=5, resolution_mult=48 / 224)
    state = random_state(config, seed=3)
    source_preprocess = PreprocessConfig(  # the source framework's, at its own 224 px
        input_size=(3, 224, 224),
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        interpolation="bicubic",
        crop_pct=1.0,
    )
    model = Converted(state, config, source_preprocess, source="test").build()
    assert isinstance(model, MobileNet)
    assert not model.training and not any(module.training for module in model.modules())
    assert model.preprocess == PreprocessConfig(
        input_size=(3, 48, 48), mean=INCEPTION_MEAN, std=INCEPTION_STD, interpolation="bicubic", crop_pct=1.0
    )
    loaded = model.state_dict()
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    with torch.no_grad():
        assert model(torch.randn(2, 3, 48, 48)).shape == (2, 5)


def test_build_sets_the_channels_of_a_one_channel_model() -> None:
    config = dataclasses.replace(TINY_V1, num_classes=3, in_chans=1)
    model = Converted(random_state(config), config, PreprocessConfig(mean=(0.5,), std=(0.5,)), "test").build()
    assert model.preprocess.input_size == (1, 32, 32)


def test_build_refuses_weights_it_cannot_load() -> None:
    config = dataclasses.replace(TINY_V1, num_classes=3)
    state = random_state(config)
    state["classifier.bias"] = torch.tensor([0.0, float("nan"), 0.0])
    with pytest.raises(ValueError, match=r"NaN or infinite values in 1 tensors \(e\.g\. classifier\.bias\)"):
        Converted(state, config, PreprocessConfig(), "test").build()
