"""Precise BN: recomputed statistics equal the data's, and they rescue a run whose momentum is too small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mobilenets.data.augment import Normalize
from mobilenets.data.datasets import ArrayDataset, DataSplits
from mobilenets.data.digits import CLASS_NAMES, split_digits
from mobilenets.train import TrainConfig, fit
from mobilenets.train.precise_bn import StatisticsCheck, batch_vs_running, recalibrate
from mobilenets.weights.file_format import load_model


def conv_bn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=0.001), nn.Dropout(0.5), nn.ReLU())


def test_recalibrated_statistics_are_the_average_over_the_batches() -> None:
    model = conv_bn()
    batches = [torch.randn(8, 3, 6, 6) * (i + 1) + i for i in range(5)]
    weights = [p.clone() for p in model.parameters()]
    model.train()

    assert recalibrate(model, batches) == 5

    with torch.no_grad():
        features = [model[0](b) for b in batches]  # (8, 4, 4, 4) each
    means = torch.stack([f.mean(dim=(0, 2, 3)) for f in features])
    variances = torch.stack([f.transpose(0, 1).reshape(4, -1).var(dim=1, unbiased=True) for f in features])
    bn = model[1]
    torch.testing.assert_close(bn.running_mean, means.mean(dim=0))
    torch.testing.assert_close(bn.running_var, variances.mean(dim=0))
    assert bn.momentum == 0.001 and model.training and model[2].training  # modes and momentum restored
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters(), strict=True))


def test_no_batch_keeps_the_old_statistics() -> None:
    model = conv_bn()
    model[1].running_mean.fill_(3.0)
    assert recalibrate(model, []) == 0
    assert torch.all(model[1].running_mean == 3.0)


def test_the_check_leaves_the_running_statistics_alone() -> None:
    model = conv_bn()
    model.append(nn.Flatten()).append(nn.LazyLinear(3))
    images, labels = torch.randn(16, 3, 6, 6) + 5, torch.randint(0, 3, (16,))
    model.eval()(images)  # materialize the lazy layer
    before = {k: v.clone() for k, v in model.state_dict().items()}
    check = batch_vs_running(model, images, labels)
    assert 0.0 <= check.batch_top1 <= 1.0 and check.images == 16
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("batch", "running", "mismatched"),
    [(0.90, 0.12, True), (0.90, 0.80, False), (0.30, 0.02, False)],  # the last has not learned yet
)
def test_a_mismatch_needs_a_model_that_learned_and_a_large_gap(
    batch: float, running: float, mismatched: bool
) -> None:
    assert StatisticsCheck(batch, running, 64).mismatched(num_classes=10) is mismatched


def accuracy_both_ways(weights: Path, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Top-1 on these images with BatchNorm's batch statistics (train mode), and in eval mode.

    Computed here by hand, not with ``batch_vs_running``, so that the test does not grade the
    code with itself.
    """
    model = load_model(weights)
    normalize = Normalize(model.preprocess.mean, model.preprocess.std)
    x = normalize(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0)  # (N, 3, H, W)
    y = torch.from_numpy(labels).long()
    with torch.no_grad():
        model.eval()
        running = (model(x).argmax(1) == y).float().mean().item()
        for module in model.modules():  # batch statistics, dropout still off
            if isinstance(module, nn.BatchNorm2d):
                module.train()
                module.momentum = 0.0
        batch_hits = sum(
            (model(x[i : i + 64]).argmax(1) == y[i : i + 64]).sum().item() for i in range(0, len(y), 64)
        )
    return batch_hits / len(y), running


@pytest.mark.slow
def test_momentum_0_001_validates_like_train_mode_only_with_precise_bn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, held_out = split_digits(32)
    splits = DataSplits(
        ArrayDataset(train.images, train.labels, CLASS_NAMES),
        ArrayDataset(held_out.images, held_out.labels, CLASS_NAMES),
        CLASS_NAMES,
        "digits",
    )
    recipe = {
        "model": "mobilenet_v1",
        "width_mult": 0.25,
        "resolution": 32,
        "epochs": 4,
        "bn_momentum": 0.001,  # the running statistics barely move in 84 steps
        "dropout": 0.0,
        "augment": "crop",
        "crop_scale": (0.6, 1.0),
        "hflip": False,
        "progress": False,
    }
    figures, warnings = {}, {}
    for precise in (True, False):
        result = fit(
            TrainConfig(**recipe, precise_bn=precise, out=str(tmp_path / str(precise))), splits=splits
        )
        batch_top1, running_top1 = accuracy_both_ways(result.final_weights, train.images, train.labels)
        figures[precise] = (batch_top1, running_top1, result.final["top1"])
        warnings[precise] = capsys.readouterr().err.count("BatchNorm running statistics do not match")
    print(figures)  # shown with -s: the closing note quotes these figures
    batch_top1, running_top1, validation = figures[True]
    assert batch_top1 > 0.8  # it learned
    assert abs(running_top1 - batch_top1) < 0.05  # eval mode matches train mode on the same data
    assert validation > 0.75  # and validation shows it
    batch_top1, running_top1, validation = figures[False]
    assert batch_top1 > 0.8 and running_top1 < batch_top1 - 0.3  # without: far below
    assert warnings == {True: 0, False: 1}  # and the run says so, once
