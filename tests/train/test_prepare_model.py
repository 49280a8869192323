"""``train.prepare_model``: the model a run trains (head, labels, input size), BN momentum, freezing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from mobilenets import create_model, save_weights
from mobilenets.data.datasets import ArrayDataset, DataSplits
from mobilenets.train.config import TrainConfig
from mobilenets.train.distributed import DistributedContext, weights_digest
from mobilenets.train.prepare_model import model_for_run, prepare_model, set_backbone_frozen, set_bn_momentum

CLASSES = ["ant", "bee", "cat"]


def splits(classes: list[str] = CLASSES) -> DataSplits:
    images = np.zeros((len(classes) * 2, 32, 32, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(len(classes)), 2)
    dataset = ArrayDataset(images, labels, classes)
    return DataSplits(dataset, dataset, list(classes), "tiny")


def batchnorms(model: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def test_a_fresh_model_gets_the_data_classes_labels_and_the_training_size() -> None:
    config = TrainConfig(model="mobilenet_v1", width_mult=0.25, dropout=0.3, progress=False)
    model = model_for_run(config, splits(), resolution=48)
    assert model.config.arch == "mobilenet_v1" and model.config.width_mult == 0.25
    assert model.config.num_classes == 3
    assert isinstance(model.classifier, nn.Linear) and model.classifier.out_features == 3
    assert model.labels == CLASSES
    assert model.preprocess.input_size == (3, 48, 48)
    assert model.config.resolution_mult == pytest.approx(48 / 224)
    assert model.config.dropout == 0.3 and model.dropout.p == 0.3
    assert model(torch.zeros(2, 3, 48, 48)).shape == (2, 3)


def test_without_a_width_the_name_decides_it() -> None:
    config = TrainConfig(model="mobilenet_v2_0.35", progress=False)
    model = model_for_run(config, splits(), resolution=32)
    assert model.config.arch == "mobilenet_v2" and model.config.width_mult == 0.35
    assert model.config.dropout == 0.2  # V2's own default when none is given
    assert model.stem.conv.out_channels == 16  # make_divisible(32 * 0.35) = 16


@pytest.fixture
def pretrained(tmp_path: Path) -> Path:
    """A 5-class V3-Small (α 0.25) weights file with its own labels."""
    torch.manual_seed(1)
    model = create_model("mobilenet_v3_small", width_mult=0.25, num_classes=5)
    with torch.no_grad():
        for bn in batchnorms(model):  # statistics that differ from a fresh model's
            bn.running_mean.uniform_(-1, 1)
    return save_weights(model, tmp_path / "pre.safetensors", labels=["a", "b", "c", "d", "e"])


def test_pretrained_weights_get_a_new_head_for_a_different_class_count(pretrained: Path) -> None:
    file_state = create_model(weights=pretrained).state_dict()
    config = TrainConfig(model="ignored", pretrained=str(pretrained), progress=False)
    model = model_for_run(config, splits(), resolution=64)
    assert model.training  # ready to train, not the eval mode a loaded file comes in
    assert model.config.arch == "mobilenet_v3_small" and model.config.width_mult == 0.25
    assert model.config.num_classes == 3 and model.classifier.out_features == 3
    assert model.labels == CLASSES
    assert model.preprocess.input_size == (3, 64, 64)
    state = model.state_dict()
    backbone = [key for key in file_state if not key.startswith("classifier.")]
    assert backbone and all(torch.equal(state[key], file_state[key]) for key in backbone)
    assert state["classifier.weight"].shape == (3, file_state["classifier.weight"].shape[1])


def test_pretrained_weights_with_the_same_class_count_keep_their_head(pretrained: Path) -> None:
    file_state = create_model(weights=pretrained).state_dict()
    config = TrainConfig(pretrained=str(pretrained), dropout=0.05, progress=False)
    five = ["v", "w", "x", "y", "z"]
    model = model_for_run(config, splits(five), resolution=32)
    assert torch.equal(model.state_dict()["classifier.weight"], file_state["classifier.weight"])
    assert model.labels == five  # the data's names, not the file's
    assert model.config.dropout == 0.05


def test_set_bn_momentum_reaches_every_batchnorm_and_the_config() -> None:
    model = create_model("mobilenet_v2", width_mult=0.35, num_classes=3)
    layers = batchnorms(model)
    assert len(layers) > 10 and {bn.momentum for bn in layers} == {0.1}  # V2's default
    set_bn_momentum(model, 0.0125)
    assert {bn.momentum for bn in layers} == {0.0125}
    assert model.config.bn_momentum == 0.0125


def test_a_frozen_backbone_trains_only_the_classifier_and_keeps_its_statistics() -> None:
    torch.manual_seed(0)
    model = create_model("mobilenet_v3_small", width_mult=0.25, num_classes=3).train()
    set_backbone_frozen(model, True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    assert not model.head_fc.weight.requires_grad  # V3's last hidden layer is backbone too
    assert all(not bn.training for bn in batchnorms(model))
    before = {name: b.clone() for name, b in model.named_buffers()}
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    after = dict(model.named_buffers())
    assert all(torch.equal(before[name], after[name]) for name in before)  # no BN update
    with_grads = {name for name, p in model.named_parameters() if p.grad is not None}
    assert with_grads == {"classifier.weight", "classifier.bias"}


def test_unfreezing_trains_everything_again() -> None:
    model = create_model("mobilenet_v1", width_mult=0.25, num_classes=3).train()
    set_backbone_frozen(model, True)
    set_backbone_frozen(model, False)
    assert all(p.requires_grad for p in model.parameters())


def test_prepare_model_builds_the_same_weights_every_time_and_applies_the_recipe() -> None:
    config = TrainConfig(
        model="mobilenet_v1", width_mult=0.25, bn_momentum=0.05, seed=3, ema=True, progress=False
    )
    context = DistributedContext()
    model, train_model, ema, recipe = prepare_model(config, splits(), 32, context, steps_per_epoch=10)
    again, *_ = prepare_model(config, splits(), 32, context, steps_per_epoch=10)
    assert weights_digest(model) == weights_digest(again)  # every rank starts from these weights
    other, *_ = prepare_model(
        TrainConfig(**{**config.to_dict(), "seed": 4}), splits(), 32, context, steps_per_epoch=10
    )
    assert weights_digest(other) != weights_digest(model)
    assert train_model is model  # one process, no compile: nothing wraps it
    assert {bn.momentum for bn in batchnorms(model)} == {0.05} and model.config.bn_momentum == 0.05
    assert recipe.bn_momentum == 0.05
    assert isinstance(ema, AveragedModel)
    assert model.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
    no_ema = TrainConfig(**{**config.to_dict(), "ema": False, "channels_last": False})
    plain, _, none, _ = prepare_model(no_ema, splits(), 32, context, steps_per_epoch=10)
    assert none is None
    assert plain.stem.conv.weight.is_contiguous()
