"""The MobileNetV4 presets: the published numbers, applied to a run, and given flags win."""

from __future__ import annotations

import math

import pytest
import torch

from mobilenets import create_model
from mobilenets.cli import build_parser
from mobilenets.cli.train import config_from_args
from mobilenets.train.config import TrainConfig
from mobilenets.train.optim import build_optimizer
from mobilenets.train.presets import V4_PRESETS, find_preset, preset_settings


def train_args(*flags: str) -> TrainConfig:
    return config_from_args(build_parser().parse_args(["train", *flags]))


def test_presets_hold_the_published_recipes() -> None:
    """Spot checks against the TF Model Garden configs (see presets.py for the files)."""
    small = V4_PRESETS["mobilenet_v4_conv_small"]
    assert (small.adam_beta1, small.lr, small.global_batch, small.dropout) == (0.6, 0.002, 4096, 0.3)
    assert small.epochs == 9623 and small.warmup_epochs == 5 and small.ema == 0.9999
    assert 2400 in small.timm_epochs  # timm's e2400_r224_in1k
    large = V4_PRESETS["mobilenet_v4_hybrid_large"]
    assert (large.lr, large.global_batch, large.epochs, large.min_lr_ratio) == (0.01, 16384, 500, 0.001)
    assert large.warmup_epochs == 20 and any("stochastic depth 0.35" in u for u in large.unsupported)
    assert {p.adam_beta1 for name, p in V4_PRESETS.items() if name != "mobilenet_v4_conv_small"} == {0.9}


def test_preset_lr_scales_with_the_square_root_of_the_global_batch() -> None:
    small = V4_PRESETS["mobilenet_v4_conv_small"]
    assert preset_settings(small, 64)["lr"] == pytest.approx(0.002 * math.sqrt(64 / 4096))
    assert preset_settings(small, 64, world_size=4)["lr"] == pytest.approx(0.002 * math.sqrt(256 / 4096))
    assert "warmup_epochs" in preset_settings(small, 64)  # the source's own length: its warmup
    assert "warmup_epochs" not in preset_settings(small, 64, epochs=3)  # a short run derives its own


def test_v4_preset_fills_the_config_and_given_flags_win(capsys: pytest.CaptureFixture[str]) -> None:
    config = train_args("--model", "mobilenet_v4_conv_small", "--preset", "v4", "--epochs", "3")
    assert (config.optimizer, config.momentum, config.dropout, config.epochs) == ("adamw", 0.6, 0.3, 3)
    assert config.augment == "randaugment" and config.ema and config.weight_decay == 0.01
    assert config.warmup_epochs is None  # derived: 5 epochs of a 9623-epoch run would be all of 3
    printed = capsys.readouterr().out
    assert "imagenet_mobilenetv4_conv_small_tpu.yaml" in printed and "epochs=3 (given)" in printed
    # A flag given on the command line wins, even when it equals TrainConfig's default.
    config = train_args("--model", "mobilenet_v4_conv_medium", "--preset", "v4", "--momentum", "0.9",
                        "--optimizer", "sgd", "--augment", "crop-flip")  # fmt: skip
    assert (config.optimizer, config.momentum, config.augment) == ("sgd", 0.9, "crop-flip")
    assert config.epochs == 500 and config.dropout == 0.2  # the rest is the preset's


def test_without_a_preset_the_defaults_are_unchanged() -> None:
    assert train_args("--model", "mobilenet_v1") == TrainConfig(model="mobilenet_v1")


@pytest.mark.parametrize(
    ("preset", "model", "message"),
    [
        ("v4", "mobilenet_v3_large", "needs a MobileNetV4 model"),
        ("mobilenet_v4_conv_small", "mobilenet_v4_conv_large", "is the recipe of mobilenet_v4_conv_small"),
    ],
)
def test_a_preset_for_another_model_is_refused(preset: str, model: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_preset(preset, model)


def test_a_width_variant_takes_its_architecture_preset() -> None:
    assert find_preset("v4", "mobilenet_v4_conv_small_0.5").arch == "mobilenet_v4_conv_small"


def test_adamw_beta1_is_the_momentum_setting() -> None:
    model = create_model("mobilenet_v4_conv_small", num_classes=10)
    optimizer = build_optimizer(model, "adamw", 1e-3, 0.01, momentum=0.6)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.param_groups[0]["betas"] == (0.6, 0.999)
    default = build_optimizer(model, "adamw", 1e-3, 0.01)  # unchanged: PyTorch's (0.9, 0.999)
    assert default.param_groups[0]["betas"] == (0.9, 0.999)
