"""``config_dicts``: configs to JSON and back, unknown keys refused, JSON lists made tuples."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from mobilenets import MobileNetConfig
from mobilenets.config_dicts import config_from_dict, config_to_dict
from mobilenets.train.config import TrainConfig


def through_json(data: dict[str, object]) -> dict[str, object]:
    return json.loads(json.dumps(data))


def test_a_mobilenet_config_survives_json() -> None:
    config = MobileNetConfig(
        arch="mobilenet_v3_small", width_mult=0.75, resolution_mult=0.5, dropout=0.1, num_classes=7,
        padding="tf_same", bn_eps=1e-3, features_only=True, out_indices=(1, 3),
    )  # fmt: skip
    data = config.to_dict()
    assert data["out_indices"] == [1, 3]  # a tuple becomes a JSON list
    back = MobileNetConfig.from_dict(through_json(data))
    assert back == config
    assert back.out_indices == (1, 3) and isinstance(back.out_indices, tuple)
    assert hash(back) == hash(config)  # frozen and hashable again: a list would not hash


def test_to_dict_gives_plain_json_types_with_every_field() -> None:
    data = config_to_dict(MobileNetConfig(arch="mobilenet_v1", width_mult=0.5))
    assert data == {
        "arch": "mobilenet_v1",
        "width_mult": 0.5,
        "resolution_mult": 1.0,
        "depth_multiplier": 1,
        "min_depth": None,
        "dropout": None,
        "num_classes": 1000,
        "in_chans": 3,
        "global_pool": "avg",
        "act": None,
        "padding": "symmetric",
        "bn_eps": None,
        "bn_momentum": None,
        "features_only": False,
        "out_indices": [0, 1, 2, 3, 4],
    }
    assert through_json(data) == data


def test_a_train_config_survives_json() -> None:
    config = TrainConfig(
        data="/data/flowers", resolution=96, crop_scale=(0.25, 0.9), model="mobilenet_v2_0.35", lr=0.05,
        ema_decay=0.999, grad_clip=2.0, threads=1, resume="auto", progress=False,
    )  # fmt: skip
    data = config.to_dict()
    assert data["crop_scale"] == [0.25, 0.9]
    back = TrainConfig.from_dict(through_json(data))
    assert back == config
    assert back.crop_scale == (0.25, 0.9) and isinstance(back.crop_scale, tuple)


def test_missing_keys_take_the_defaults() -> None:
    assert MobileNetConfig.from_dict({"arch": "mobilenet_v1"}) == MobileNetConfig(arch="mobilenet_v1")
    assert TrainConfig.from_dict({}) == TrainConfig()


@pytest.mark.parametrize("cls", [MobileNetConfig, TrainConfig])
def test_unknown_keys_are_refused_naming_them_and_the_known_ones(cls: type) -> None:
    data = {**cls().to_dict(), "widht_mult": 0.5, "zoom": 2}
    with pytest.raises(ValueError) as error:
        cls.from_dict(data)
    message = str(error.value)
    assert f"unknown {cls.__name__} keys ['widht_mult', 'zoom']" in message
    assert "known keys are [" in message and "'width_mult'" in message


@dataclass(frozen=True)
class Mixed:
    pair: tuple[int, int] = (1, 2)
    names: list[str] = field(default_factory=list)
    count: int = 0
    anything: object = None


def test_only_fields_whose_default_is_a_tuple_become_tuples() -> None:
    back = config_from_dict(Mixed, {"pair": [3, 4], "names": ["a", "b"], "anything": [5]})
    assert back.pair == (3, 4) and isinstance(back.pair, tuple)
    assert back.names == ["a", "b"] and isinstance(back.names, list)
    assert back.anything == [5] and isinstance(back.anything, list)


def test_round_trip_of_a_plain_dataclass() -> None:
    value = Mixed(pair=(5, 6), names=["x"], count=3)
    data = config_to_dict(value)
    assert data == {"pair": [5, 6], "names": ["x"], "count": 3, "anything": None}
    assert config_from_dict(Mixed, through_json(data)) == value


def test_the_input_dict_is_not_changed() -> None:
    data: dict[str, object] = {"pair": [3, 4]}
    config_from_dict(Mixed, data)
    assert data == {"pair": [3, 4]}
