"""Optimizer parameter groups and learning-rate schedules."""

import itertools
import math

import pytest
import torch
from torch import nn

from mobilenets import create_model
from mobilenets.train.optim import ScheduleConfig, build_optimizer, build_scheduler, parameter_groups


def _ids(group: dict[str, object]) -> set[int]:
    return {id(p) for p in group["params"]}  # type: ignore[attr-defined]


def test_no_weight_decay_on_batchnorm_and_bias() -> None:
    model = create_model("mobilenet_v2_0.35", num_classes=10)
    decay, no_decay = parameter_groups(model, 4e-5)
    assert decay["weight_decay"] == 4e-5 and no_decay["weight_decay"] == 0.0
    norms = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    biases = {id(p) for name, p in model.named_parameters() if name.endswith("bias")}
    assert norms | biases == _ids(no_decay)
    assert id(model.classifier.weight) in _ids(decay)
    assert len(_ids(decay)) + len(_ids(no_decay)) == len(list(model.parameters()))


def test_depthwise_filters_can_be_left_undecayed() -> None:
    model = create_model("mobilenet_v1_0.25", num_classes=10)
    depthwise = {
        id(m.weight) for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1
    }
    assert len(depthwise) == 13  # V1 has 13 depthwise separable blocks
    decay, _ = parameter_groups(model, 1e-4, depthwise_decay=True)
    assert depthwise <= _ids(decay)
    decay, no_decay = parameter_groups(model, 1e-4, depthwise_decay=False)
    assert depthwise <= _ids(no_decay) and not depthwise & _ids(decay)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("sgd", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop), ("adamw", torch.optim.AdamW)],
)
def test_optimizers(name: str, kind: type) -> None:
    optimizer = build_optimizer(nn.Linear(3, 2), name, 0.1, 1e-4)
    assert isinstance(optimizer, kind)
    if name == "sgd":
        assert optimizer.defaults["nesterov"] is True
    with pytest.raises(ValueError, match=r"optimizer='lamb' is unknown"):
        build_optimizer(nn.Linear(3, 2), "lamb", 0.1, 0.0)


def test_warmup_then_cosine_to_the_floor() -> None:
    at = ScheduleConfig(
        "cosine", total_steps=110, warmup_steps=10, warmup_lr_ratio=0.1, min_lr_ratio=0.01
    ).multiplier()
    assert at(0) == pytest.approx(0.1)
    assert at(5) == pytest.approx(0.55)
    assert at(10) == pytest.approx(1.0)
    assert at(60) == pytest.approx(0.01 + 0.99 * 0.5)
    assert at(110) == pytest.approx(0.01)
    values = [at(s) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_step_schedule_decays_every_period() -> None:
    at = ScheduleConfig(
        "step", total_steps=100, steps_per_epoch=10, decay_epochs=2, decay_rate=0.5
    ).multiplier()
    assert [at(s) for s in (0, 19, 20, 39, 40)] == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_scheduler_drives_the_optimizer_learning_rate() -> None:
    optimizer = build_optimizer(nn.Linear(3, 2), "sgd", 0.2, 0.0)
    scheduler = build_scheduler(optimizer, ScheduleConfig("cosine", total_steps=4, warmup_steps=0))
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx(
        [0.2, 0.2 * (1 + math.cos(math.pi / 4)) / 2, 0.1, 0.2 * (1 + math.cos(3 * math.pi / 4)) / 2]
    )
