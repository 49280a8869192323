"""weights.metadata: every documented bound, with a value just inside and one just outside.

The bounds come from the module's docstring (α up to 4, 100,000 classes, 32-4096 px inputs,
mean in [0, 1], std in [1e-3, 10]) and its named limits; the numbers below are written out
rather than read back from the module, so that a changed bound fails here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mobilenets.models.mobilenet import MobileNetConfig
from mobilenets.models.preprocess import PreprocessConfig
from mobilenets.weights.metadata import (
    WeightsFileError,
    check_config,
    check_labels,
    check_preprocess,
    parse_json,
)

PATH = Path("damaged") / "model.safetensors"


def refused(field: str, call: Any, *args: Any) -> str:
    """Call and expect a WeightsFileError naming PATH and ``field``; return the message."""
    with pytest.raises(WeightsFileError) as info:
        call(PATH, *args)
    message = str(info.value)
    assert message.startswith(f"{PATH}: metadata field {field}"), message
    assert "mobilenets convert" in message  # the fix is named
    return message


def test_weights_file_error_is_a_value_error() -> None:
    assert issubclass(WeightsFileError, ValueError)


# parse_json


def test_parse_json_returns_the_value() -> None:
    assert parse_json(PATH, "config", '{"arch": "mobilenet_v1", "num_classes": 3}') == {
        "arch": "mobilenet_v1",
        "num_classes": 3,
    }
    assert parse_json(PATH, "labels", '["a", "b"]') == ["a", "b"]


@pytest.mark.parametrize("text", ["{", "", "{'single': 'quotes'}", "[1, 2,]"])
def test_parse_json_refuses_text_that_is_not_json(text: str) -> None:
    message = refused("labels", parse_json, "labels", text)
    assert "it is not JSON" in message


def test_parse_json_refuses_nesting_deep_enough_to_exhaust_the_stack() -> None:
    message = refused("config", parse_json, "config", "[" * 200_000 + "]" * 200_000)
    assert "it is not JSON" in message
    assert len(message) < 500  # the value shown is cut short, not 400,000 characters


# check_config


V1 = {"arch": "mobilenet_v1"}


def test_check_config_returns_the_config() -> None:
    raw = {"arch": "mobilenet_v1", "width_mult": 0.25, "num_classes": 3, "resolution_mult": 128 / 224}
    config = check_config(PATH, raw)
    assert config == MobileNetConfig(
        arch="mobilenet_v1", width_mult=0.25, num_classes=3, resolution_mult=128 / 224
    )
    assert check_config(PATH, {}) == MobileNetConfig()


def test_check_config_takes_the_output_of_to_dict() -> None:
    config = MobileNetConfig(
        arch="mobilenet_v3_small", width_mult=0.75, num_classes=10, features_only=True, out_indices=(2, 4)
    )
    assert check_config(PATH, json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    ("base", "field", "inside", "outside"),
    [
        # α: documented "up to 4"; must be > 0
        ({}, "width_mult", 4.0, 4.001),
        ({}, "width_mult", 0.01, 0.0),
        ({}, "width_mult", 1, -0.25),
        # the input size 224 x ρ must lie in 32-4096 px
        ({}, "resolution_mult", 32 / 224, 31.9 / 224),
        ({}, "resolution_mult", 4096 / 224, 4097 / 224),
        # 100,000 classes at most; 0 is a headless model
        ({}, "num_classes", 100_000, 100_001),
        ({}, "num_classes", 0, -1),
        ({}, "num_classes", 5, 5.0),  # an integer, not a float
        ({}, "in_chans", 64, 65),
        ({}, "in_chans", 1, 0),
        ({}, "depth_multiplier", 16, 17),
        ({}, "depth_multiplier", 1, 0),
        (V1, "min_depth", 1024, 1025),
        (V1, "min_depth", 1, 0),
        ({}, "dropout", 0.0, -0.01),
        ({}, "dropout", 0.999, 1.0),
        ({}, "bn_eps", 1e-12, 0.0),
        ({}, "bn_eps", 0.999, 1.0),
        ({}, "bn_momentum", 0.0, -0.01),
        ({}, "bn_momentum", 1.0, 1.01),
    ],
)
def test_check_config_bounds(base: dict[str, Any], field: str, inside: Any, outside: Any) -> None:
    config = check_config(PATH, {**base, field: inside})
    assert getattr(config, field) == inside
    message = refused(f"config.{field} = {outside!r}", check_config, {**base, field: outside})
    assert "is invalid" in message


@pytest.mark.parametrize("field", ["width_mult", "resolution_mult", "dropout", "bn_eps", "bn_momentum"])
@pytest.mark.parametrize("value", [math.nan, math.inf, True, "0.5", None, [0.5]])
def test_check_config_numbers_must_be_finite_numbers(field: str, value: Any) -> None:
    nullable = field in ("dropout", "bn_eps", "bn_momentum")
    if value is None and nullable:  # null means "the family default"
        assert getattr(check_config(PATH, {field: None}), field) is None
        return
    refused(f"config.{field}", check_config, {field: value})


@pytest.mark.parametrize("field", ["num_classes", "in_chans", "depth_multiplier"])
@pytest.mark.parametrize("value", [True, 3.0, "3", None])
def test_check_config_integers_must_be_integers(field: str, value: Any) -> None:
    refused(f"config.{field}", check_config, {field: value})


def test_check_config_min_depth_may_be_null() -> None:
    assert check_config(PATH, {**V1, "min_depth": None}).min_depth is None
    refused("config.min_depth", check_config, {**V1, "min_depth": 8.0})


@pytest.mark.parametrize("value", ["true", 1, 0, None])
def test_check_config_features_only_must_be_a_boolean(value: Any) -> None:
    refused("config.features_only", check_config, {"features_only": value})


def test_check_config_features_only_booleans_pass() -> None:
    assert check_config(PATH, {"features_only": True}).features_only is True
    assert check_config(PATH, {"features_only": False}).features_only is False


@pytest.mark.parametrize("value", [4, "0,1", [0, "1"], [0, 1.0], [True], {"0": 1}])
def test_check_config_out_indices_must_be_a_list_of_integers(value: Any) -> None:
    refused("config.out_indices", check_config, {"features_only": True, "out_indices": value})


def test_check_config_out_indices_in_range_pass_and_out_of_range_fail() -> None:
    assert check_config(PATH, {"features_only": True, "out_indices": [0, 4]}).out_indices == (0, 4)
    message = refused("config is invalid", check_config, {"features_only": True, "out_indices": [5]})
    assert "out_indices" in message


def test_check_config_refuses_an_unknown_arch() -> None:
    message = refused("config.arch = 'mobilenet_v4'", check_config, {"arch": "mobilenet_v4"})
    assert "mobilenet_v2" in message  # the known ones are listed


@pytest.mark.parametrize("value", [[], {"name": "mobilenet_v2"}])
def test_check_config_refuses_an_arch_that_is_not_a_string(value: Any) -> None:
    refused("config.arch", check_config, {"arch": value})


def test_check_config_refuses_an_unknown_field_by_name() -> None:
    message = refused("config.width = 0.5", check_config, {"width": 0.5})
    assert "unknown field" in message and "width_mult" in message


@pytest.mark.parametrize("raw", [[], "mobilenet_v2", None, 3])
def test_check_config_refuses_anything_but_an_object(raw: Any) -> None:
    refused("config", check_config, raw)


def test_check_config_refuses_contradictions_that_only_the_config_sees() -> None:
    # min_depth is V1's rule: in range, but contradicting arch=mobilenet_v2
    message = refused("config is invalid", check_config, {"arch": "mobilenet_v2", "min_depth": 8})
    assert "min_depth" in message
    message = refused("config is invalid", check_config, {"global_pool": "median"})
    assert "global_pool" in message


def test_check_config_cuts_a_long_value_short() -> None:
    message = refused("config.arch", check_config, {"arch": "x" * 10_000})
    # repr() with its opening quote, cut to 77 characters, then "..."
    assert "config.arch = '" + "x" * 76 + "... is invalid" in message
    assert "x" * 77 not in message


# check_preprocess


def test_check_preprocess_fills_defaults_and_returns_tuples() -> None:
    assert check_preprocess(PATH, {}, 3) == PreprocessConfig()
    raw = {"input_size": [1, 64, 48], "mean": [0.5], "std": [0.25], "interpolation": "bicubic", "crop_pct": 1}
    config = check_preprocess(PATH, raw, in_chans=1)
    assert config == PreprocessConfig(
        input_size=(1, 64, 48), mean=(0.5,), std=(0.25,), interpolation="bicubic", crop_pct=1.0
    )
    assert isinstance(config.crop_pct, float) and isinstance(config.mean, tuple)


@pytest.mark.parametrize(
    ("field", "inside", "outside"),
    [
        ("input_size", [3, 32, 32], [3, 31, 32]),
        ("input_size", [3, 32, 32], [3, 32, 31]),
        ("input_size", [3, 4096, 4096], [3, 4096, 4097]),
        ("input_size", [3, 224, 224], [1, 224, 224]),  # channels must be in_chans (3)
        ("input_size", [3, 224, 224], [3, 224]),
        ("input_size", [3, 224, 224], [3, 224.0, 224]),
        ("input_size", [3, 224, 224], 224),
        ("mean", [0.0, 0.0, 0.0], [0.0, 0.0, -0.001]),
        ("mean", [1.0, 1.0, 1.0], [1.0, 1.0, 1.001]),
        ("mean", [0.5, 0.5, 0.5], [0.5, 0.5]),  # one per channel
        ("mean", [0.5, 0.5, 0.5], [0.5, 0.5, math.nan]),
        ("mean", [0.5, 0.5, 0.5], [0.5, 0.5, True]),
        ("std", [1e-3, 1e-3, 1e-3], [1e-3, 1e-3, 0.9e-3]),
        ("std", [10.0, 10.0, 10.0], [10.0, 10.0, 10.01]),
        ("std", [0.25, 0.25, 0.25], [0.25, 0.25, 0.0]),
        ("std", [0.25, 0.25, 0.25], [0.25, 0.25, math.inf]),
        ("interpolation", "lanczos", "cubic"),
        ("interpolation", "nearest", "Bilinear"),
        ("crop_pct", 0.2, 0.199),
        ("crop_pct", 1.0, 1.001),
        ("crop_pct", 0.875, "0.875"),
        ("crop_pct", 0.875, True),
    ],
)
def test_check_preprocess_bounds(field: str, inside: Any, outside: Any) -> None:
    config = check_preprocess(PATH, {field: inside}, 3)
    got = getattr(config, field)
    assert list(got) == inside if isinstance(inside, list) else got == inside
    message = refused(f"preprocess.{field} = ", check_preprocess, {field: outside}, 3)
    assert "is invalid" in message


def test_check_preprocess_input_size_must_match_a_one_channel_model() -> None:
    # the default (3, 224, 224) does not fit a grayscale model: it must be stated
    refused("preprocess.input_size", check_preprocess, {}, 1)
    refused("preprocess.mean", check_preprocess, {"input_size": [1, 32, 32]}, 1)  # 3 default means


def test_check_preprocess_refuses_an_unknown_field_by_name() -> None:
    message = refused("preprocess.resize = 256", check_preprocess, {"resize": 256}, 3)
    assert "crop_pct" in message


@pytest.mark.parametrize("raw", [[], "bilinear", None])
def test_check_preprocess_refuses_anything_but_an_object(raw: Any) -> None:
    refused("preprocess", check_preprocess, raw, 3)


# check_labels


def test_check_labels_returns_the_names() -> None:
    assert check_labels(PATH, ["cat", "dog", "tabby cat"], 3) == ["cat", "dog", "tabby cat"]
    assert check_labels(PATH, ["a", "b"], 0) == ["a", "b"]  # a headless model: any number


def test_check_labels_count_must_match_the_classes() -> None:
    message = refused("labels", check_labels, ["a", "b"], 3)
    assert "3 names, not 2" in message
    refused("labels", check_labels, ["a", "b", "c", "d"], 3)


def test_check_labels_length_limit_is_200_characters() -> None:
    assert check_labels(PATH, ["x" * 200], 1) == ["x" * 200]
    message = refused("labels", check_labels, ["x" * 201], 1)
    assert "at most 200 characters" in message


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\n", "\t", "\x1f", "\x7f", "\x85", "\x9f"])
def test_check_labels_refuses_control_characters(char: str) -> None:
    refused("labels", check_labels, ["ok", f"bad{char}name"], 2)


@pytest.mark.parametrize("char", [" ", "~", "\xa0", "é", "α", "象"])
def test_check_labels_accepts_printable_characters(char: str) -> None:
    assert check_labels(PATH, [f"a{char}b"], 1) == [f"a{char}b"]


@pytest.mark.parametrize("raw", [{"0": "cat"}, "cat", ["cat", 1], [None], None])
def test_check_labels_refuses_anything_but_a_list_of_strings(raw: Any) -> None:
    refused("labels", check_labels, raw, 0)
