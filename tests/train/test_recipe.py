"""The run-dependent defaults follow their published scaling rules, and given values win."""

from __future__ import annotations

import math

import pytest

from mobilenets.models.mobilenet import FAMILY_DEFAULTS
from mobilenets.train.recipe import resolve

V1_FLOOR = FAMILY_DEFAULTS["v1"].bn_momentum  # 0.01, the Keras weights' momentum


def small_run(**kwargs: object) -> dict[str, object]:
    """A user's first folder: 400 images at batch 64 (6 steps an epoch) for 15 epochs."""
    return {
        "family": "v1",
        "family_bn_momentum": V1_FLOOR,
        "optimizer": "sgd",
        "batch_size": 64,
        "world_size": 1,
        "steps_per_epoch": 6,
        "epochs": 15,
        **kwargs,
    }


@pytest.mark.parametrize(
    ("optimizer", "batch", "world", "expected"),
    [
        ("sgd", 64, 1, 0.1),
        ("sgd", 128, 1, 0.2),  # linear scaling (Goyal et al.)
        ("sgd", 64, 4, 0.4),  # the global batch counts, not the per-process one
        ("rmsprop", 512, 1, 0.064),  # timm's MobileNetV3 recipe value at its own batch
        ("adamw", 256, 1, 2e-3),  # square-root scaling: 4x the batch, 2x the rate
    ],
)
def test_learning_rate_scales_with_the_global_batch(
    optimizer: str, batch: int, world: int, expected: float
) -> None:
    recipe = resolve(**small_run(optimizer=optimizer, batch_size=batch, world_size=world))  # type: ignore[arg-type]
    assert recipe.lr == pytest.approx(expected)


def test_fine_tuning_takes_a_tenth_and_a_given_rate_is_kept() -> None:
    assert resolve(**small_run(pretrained=True)).lr == pytest.approx(0.01)  # type: ignore[arg-type]
    assert resolve(**small_run(lr=0.37, pretrained=True)).lr == 0.37  # type: ignore[arg-type]


def test_warmup_is_five_percent_of_the_run_and_at_most_five_epochs() -> None:
    short = resolve(**small_run(steps_per_epoch=6, epochs=15))  # type: ignore[arg-type]
    assert short.warmup_steps == round(0.05 * 90)
    imagenet = resolve(**small_run(steps_per_epoch=5000, epochs=300))  # type: ignore[arg-type]
    assert imagenet.warmup_steps == 5 * 5000
    given = resolve(**small_run(warmup_epochs=2.0))  # type: ignore[arg-type]
    assert given.warmup_steps == 12


def test_bn_momentum_forgets_within_an_epoch_between_the_family_default_and_0_1() -> None:
    # 6 steps an epoch would ask for 1/6: capped at PyTorch's own default.
    assert resolve(**small_run(steps_per_epoch=6)).bn_momentum == 0.1  # type: ignore[arg-type]
    # 21 steps (the digits at batch 64): 1/21, so the statistics reflect the last epoch.
    assert resolve(**small_run(steps_per_epoch=21)).bn_momentum == pytest.approx(1 / 21)  # type: ignore[arg-type]
    # ImageNet-sized epochs keep the momentum the reference weights were trained with.
    assert resolve(**small_run(steps_per_epoch=20000)).bn_momentum == V1_FLOOR  # type: ignore[arg-type]
    assert resolve(**small_run(bn_momentum=0.001)).bn_momentum == 0.001  # type: ignore[arg-type]


def test_ema_is_off_unless_asked_and_then_spans_five_percent_of_the_steps() -> None:
    assert resolve(**small_run()).ema_decay is None  # type: ignore[arg-type]
    long = resolve(**small_run(ema=True, steps_per_epoch=1000, epochs=100))  # type: ignore[arg-type]
    assert 1 / (1 - long.ema_decay) == pytest.approx(0.05 * 100_000)  # type: ignore[operator]
    # A 90-step run still averages over at least 10 steps, not 4.5.
    short = resolve(**small_run(ema=True))  # type: ignore[arg-type]
    assert 1 / (1 - short.ema_decay) == pytest.approx(10)  # type: ignore[operator]
    assert resolve(**small_run(ema_decay=0.99)).ema_decay == 0.99  # type: ignore[arg-type]


def test_precise_bn_takes_a_quarter_epoch_between_256_and_1024_images_and_can_be_off() -> None:
    # 384 images an epoch: a quarter is 96, raised to 256 images = 4 batches of 64.
    assert resolve(**small_run(steps_per_epoch=6)).precise_bn_batches == 4  # type: ignore[arg-type]
    # 3 steps an epoch: never more than one epoch.
    assert resolve(**small_run(steps_per_epoch=3)).precise_bn_batches == 3  # type: ignore[arg-type]
    # 40 steps of 64: a quarter is 640 images = 10 batches.
    assert resolve(**small_run(steps_per_epoch=40)).precise_bn_batches == 10  # type: ignore[arg-type]
    big = resolve(**small_run(steps_per_epoch=5000, batch_size=48))  # type: ignore[arg-type]
    assert big.precise_bn_batches == math.ceil(1024 / 48)
    assert resolve(**small_run(precise_bn=False)).precise_bn_batches == 0  # type: ignore[arg-type]


def test_precise_bn_line_names_the_images_a_small_folder_really_gives() -> None:
    # 3 steps of 64 = 192 images: the whole epoch, short of the 256 wanted; the line must not
    # promise 256 images.
    reason = resolve(**small_run(steps_per_epoch=3)).reasons["precise_bn"]  # type: ignore[arg-type]
    assert reason.startswith("3 training batches (up to 192 images)") and "whole epoch" in reason
    reason = resolve(**small_run(steps_per_epoch=1)).reasons["precise_bn"]  # type: ignore[arg-type]
    assert reason.startswith("1 training batch (up to 64 images) recomputes")
    reason = resolve(**small_run(steps_per_epoch=40)).reasons["precise_bn"]  # type: ignore[arg-type]
    assert reason.startswith("10 training batches (up to 640 images)") and "whole epoch" not in reason


def test_v2_and_v4_train_with_a_quarter_of_the_sgd_rate_and_say_so() -> None:
    # Only SGD's reference is the family's: AdamW and RMSprop keep theirs, and a given rate wins.
    for family in ("v2", "v4"):
        recipe = resolve(**small_run(family=family, batch_size=128))  # type: ignore[arg-type]
        assert recipe.lr == pytest.approx(0.05)
        assert f"0.025 (sgd, {family.upper()} at batch 64) × (128/64)" in recipe.reasons["lr"]
        assert resolve(**small_run(family=family, optimizer="adamw")).lr == pytest.approx(1e-3)  # type: ignore[arg-type]
        assert resolve(**small_run(family=family, lr=0.3)).lr == 0.3  # type: ignore[arg-type]
    for family in ("v1", "v3"):
        assert resolve(**small_run(family=family)).lr == pytest.approx(0.1)  # type: ignore[arg-type]


def test_every_value_comes_with_its_reason() -> None:
    text = resolve(**small_run()).describe()  # type: ignore[arg-type]
    for name in ("lr", "weight_decay", "warmup", "bn_momentum", "ema", "precise_bn"):
        assert f"  {name}: " in text
    assert "0.1 (sgd at batch 64)" in text


def test_weight_decay_follows_the_normalized_rule_and_keeps_the_papers_floor() -> None:
    # Loshchilov & Hutter's normalized decay: λ ∝ 1/√steps, pinned to the demo's 5e-4 at 735 steps.
    demo = resolve(**small_run(steps_per_epoch=21, epochs=35))  # type: ignore[arg-type]
    assert demo.weight_decay == pytest.approx(5e-4)
    quarter = resolve(**small_run(steps_per_epoch=21, epochs=35 * 4))  # type: ignore[arg-type]
    assert quarter.weight_decay == pytest.approx(2.5e-4)  # 4x the steps: half the decay
    imagenet = resolve(**small_run(steps_per_epoch=5004, epochs=90))  # type: ignore[arg-type]
    assert imagenet.weight_decay == 4e-5  # the V1-V3 papers' value, not 2e-5
    assert resolve(**small_run(weight_decay=0.0)).weight_decay == 0.0  # type: ignore[arg-type]
