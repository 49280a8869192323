"""Model names: base names, TF-slim style suffixes, and helpful errors."""

import pytest

from mobilenets import create_model, list_models
from mobilenets.models.registry import parse_model_name, register_model

BASE_NAMES = [
    "mobilenet_v1",
    "mobilenet_v1_conv",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_large_minimal",
    "mobilenet_v3_small",
    "mobilenet_v3_small_minimal",
    "mobilenet_v4_conv_aa_large",
    "mobilenet_v4_conv_aa_medium",
    "mobilenet_v4_conv_blur_medium",
    "mobilenet_v4_conv_large",
    "mobilenet_v4_conv_medium",
    "mobilenet_v4_conv_small",
    "mobilenet_v4_hybrid_large",
    "mobilenet_v4_hybrid_medium",
]


def test_list_models() -> None:
    assert list_models() == BASE_NAMES
    assert list_models("*v3_small*") == ["mobilenet_v3_small", "mobilenet_v3_small_minimal"]


@pytest.mark.parametrize(
    ("name", "base", "alpha", "size"),
    [
        ("mobilenet_v1_0.75_192", "mobilenet_v1", 0.75, 192),
        ("mobilenet_v2_1.4_224", "mobilenet_v2", 1.4, 224),
        ("mobilenet_v2_0.35", "mobilenet_v2", 0.35, 224),
        ("mobilenet_v1_128", "mobilenet_v1", 1.0, 128),
        ("mobilenet_v3_large_minimal_1.0_224", "mobilenet_v3_large_minimal", 1.0, 224),
    ],
)
def test_full_names_set_width_and_resolution(name: str, base: str, alpha: float, size: int) -> None:
    assert parse_model_name(name)[0] == base
    model = create_model(name)
    assert model.config.arch == base
    assert model.config.width_mult == alpha
    assert model.config.default_input_size == size
    assert model.preprocess.input_size == (3, size, size)


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'mobilenet_v3_larg'.*'mobilenet_v3_large'"):
        create_model("mobilenet_v3_larg")


def test_contradictory_width_in_name_and_argument() -> None:
    with pytest.raises(ValueError, match=r"width_mult=0.5 contradicts the model name 'mobilenet_v1_0.75'"):
        create_model("mobilenet_v1_0.75", width_mult=0.5)
    # Agreeing values are fine.
    assert create_model("mobilenet_v1_0.75", width_mult=0.75).config.width_mult == 0.75


def test_contradictory_features_only_and_num_classes() -> None:
    with pytest.raises(ValueError, match=r"num_classes=10 contradicts features_only=True"):
        create_model("mobilenet_v2", features_only=True, num_classes=10)


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("mobilenet_v2", lambda **kw: create_model("mobilenet_v2", **kw))
