"""``weights.state_fit``: which model a state dict fits, and loading it with errors that name keys."""

from __future__ import annotations

import pytest
import torch

from mobilenets.models.mobilenet import MobileNet, MobileNetConfig
from mobilenets.weights.state_fit import (
    ConversionError,
    candidate_archs,
    check_state_fits,
    describe_weights,
    family_of,
    infer_config,
    load_state_dict_checked,
    mismatches,
)


def state_of(arch: str, width: float, num_classes: int = 10, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return MobileNet(MobileNetConfig(arch=arch, width_mult=width, num_classes=num_classes)).state_dict()


@pytest.mark.parametrize(
    ("arch", "width"),
    [
        ("mobilenet_v1", 0.75),
        ("mobilenet_v1", 0.25),
        ("mobilenet_v2", 0.35),
        ("mobilenet_v3_small", 1.0),
        ("mobilenet_v3_small", 0.75),
        ("mobilenet_v3_large_minimal", 0.5),
    ],
)
def test_infer_config_finds_the_architecture_and_width(arch: str, width: float) -> None:
    config = infer_config(state_of(arch, width, num_classes=10))
    assert (config.arch, config.width_mult, config.num_classes) == (arch, width, 10)


def test_the_class_count_comes_from_the_classifier_and_a_headless_state_has_none() -> None:
    assert infer_config(state_of("mobilenet_v2", 0.5, num_classes=37)).num_classes == 37
    headless = infer_config(state_of("mobilenet_v3_small", 0.75, num_classes=0))
    assert (headless.arch, headless.width_mult, headless.num_classes) == ("mobilenet_v3_small", 0.75, 0)


def test_fields_the_source_dictates_are_kept() -> None:
    config = infer_config(state_of("mobilenet_v1", 0.5), act="relu6", padding="tf_same", bn_eps=1e-3)
    assert (config.act, config.padding, config.bn_eps, config.width_mult) == ("relu6", "tf_same", 1e-3, 0.5)


def test_a_named_architecture_is_used_instead_of_guessing() -> None:
    state = state_of("mobilenet_v1", 0.75)
    config = infer_config(state, arch="mobilenet_v1_0.75_160")
    assert (config.arch, config.width_mult, config.default_input_size) == ("mobilenet_v1", 0.75, 160)
    with pytest.raises(ConversionError, match=r"look like mobilenet_v1 .*closest: width_mult=0.5\)") as error:
        infer_config(state, arch="mobilenet_v1_0.5")
    assert "its stem has 24 channels" in str(error.value)  # int(32 * 0.75)


def test_a_width_that_is_not_tried_is_refused_with_the_first_differences() -> None:
    state = state_of("mobilenet_v1", 0.6)
    with pytest.raises(ConversionError) as error:
        infer_config(state)
    message = str(error.value)
    assert "look like mobilenet_v1 but fit no width multiplier tried" in message
    assert "its stem has 19 channels" in message  # V1 truncates: int(32 * 0.6) = 19
    assert "First differences: stem.conv.weight: file (19, 3, 3, 3) vs model" in message
    assert "--arch" in message
    assert isinstance(error.value, ValueError)
    # Tried with the right width, it fits.
    assert infer_config(state, widths=(0.6,)).width_mult == 0.6


def test_a_v3_with_an_unknown_block_count_is_refused() -> None:
    state = dict(state_of("mobilenet_v3_small", 1.0))
    state["blocks.11.conv.weight"] = torch.zeros(1)
    state["blocks.12.conv.weight"] = torch.zeros(1)
    with pytest.raises(ConversionError, match="have 13 blocks; V3-Large has 15 and V3-Small 11"):
        infer_config(state)


def test_family_and_candidates_from_the_keys() -> None:
    assert family_of(state_of("mobilenet_v1", 0.25)) == "v1"
    assert family_of(state_of("mobilenet_v2", 0.35)) == "v2"
    assert family_of(state_of("mobilenet_v3_small", 0.75)) == "v3"
    assert candidate_archs(state_of("mobilenet_v3_large", 0.5)) == ["mobilenet_v3_large"]
    assert candidate_archs(state_of("mobilenet_v3_small_minimal", 1.0)) == ["mobilenet_v3_small_minimal"]
    assert candidate_archs(state_of("mobilenet_v2", 0.35)) == ["mobilenet_v2"]


def test_mismatches_lists_missing_unexpected_and_shape_differences() -> None:
    state = {"a": torch.zeros(2, 3), "b": torch.zeros(4), "extra": torch.zeros(1)}
    shapes = {"a": (2, 3), "b": (5,), "gone": (1,)}
    assert mismatches(state, shapes) == ["missing gone", "unexpected extra", "b: file (4,) vs model (5,)"]
    assert mismatches({"a": torch.zeros(2, 3)}, {"a": (2, 3)}) == []


# -- loading ---------------------------------------------------------------------------------------
def tiny() -> MobileNet:
    return MobileNet(MobileNetConfig(arch="mobilenet_v1", width_mult=0.25, num_classes=3))


def test_load_state_dict_checked_loads_exactly() -> None:
    source = state_of("mobilenet_v1", 0.25, num_classes=3, seed=1)
    model = tiny()
    load_state_dict_checked(model, source)
    assert all(torch.equal(model.state_dict()[key], value) for key, value in source.items())


def test_non_finite_values_are_refused_naming_a_tensor() -> None:
    source = dict(state_of("mobilenet_v1", 0.25, num_classes=3))
    source["classifier.weight"] = source["classifier.weight"].clone()
    source["classifier.weight"][0, 0] = float("nan")
    source["stem.bn.running_var"] = torch.full_like(source["stem.bn.running_var"], float("inf"))
    model = tiny()
    before = model.state_dict()["classifier.weight"].clone()
    with pytest.raises(ValueError, match=r"NaN or infinite values in 2 tensors \(e.g. stem.bn.running_var\)"):
        load_state_dict_checked(model, source)
    assert torch.equal(model.state_dict()["classifier.weight"], before)  # nothing loaded


def test_integers_where_the_model_holds_real_numbers_are_refused() -> None:
    source = dict(state_of("mobilenet_v1", 0.25, num_classes=3))
    source["classifier.bias"] = torch.zeros(3, dtype=torch.int32)
    with pytest.raises(ValueError, match=r"tensor classifier.bias has dtype torch.int32"):
        load_state_dict_checked(tiny(), source)


def test_a_shape_mismatch_names_the_key_and_what_the_weights_look_like() -> None:
    source = state_of("mobilenet_v1", 0.5, num_classes=3)
    with pytest.raises(ValueError) as error:
        load_state_dict_checked(tiny(), source)
    message = str(error.value)
    assert "weights do not fit arch='mobilenet_v1', width_mult=0.25, num_classes=3" in message
    assert "stem.conv.weight: file (16, 3, 3, 3) vs model (8, 3, 3, 3)" in message
    assert "The weights look like arch='mobilenet_v1', width_mult=0.5, num_classes=3." in message


def test_missing_keys_are_refused_and_unexpected_ones_only_when_strict() -> None:
    model = tiny()
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    check_state_fits(model, shapes)
    with pytest.raises(ValueError, match=r"missing keys \['classifier.bias'\]"):
        check_state_fits(model, {k: v for k, v in shapes.items() if k != "classifier.bias"})
    with_extra = {**shapes, "head.extra": (1,)}
    with pytest.raises(ValueError, match=r"unexpected keys \['head.extra'\]"):
        check_state_fits(model, with_extra)
    check_state_fits(model, with_extra, strict=False)


def test_describe_weights() -> None:
    text = describe_weights(state_of("mobilenet_v3_small", 0.75, num_classes=5))
    assert text == " The weights look like arch='mobilenet_v3_small', width_mult=0.75, num_classes=5."
    assert describe_weights({"not.a.mobilenet": torch.zeros(1)}) == ""
