"""``create_model``: by name, from a mobilenets file (as the name or as ``weights=``), and its refusals."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from mobilenets import create_model, save_weights
from mobilenets.weights.create import FREE_FIELDS
from mobilenets.weights.file_format import WeightsFileError

LABELS = ["red", "green", "blue"]


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """V3-Small at α 0.25 with 3 classes, its labels and a 96 px preprocessing."""
    torch.manual_seed(0)
    model = create_model("mobilenet_v3_small", width_mult=0.25, num_classes=3, resolution_mult=96 / 224)
    with torch.no_grad():
        for module in model.modules():  # statistics a fresh model does not have
            if isinstance(module, nn.BatchNorm2d):
                module.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(model, path, labels=LABELS)
    return path


@pytest.fixture(scope="module")
def tiny_state(tiny_file: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(tiny_file))


def same_tensors(model: nn.Module, state: dict[str, torch.Tensor], skip: str = "\0") -> bool:
    own = model.state_dict()
    keys = [key for key in state if not key.startswith(skip)]
    return bool(keys) and all(torch.equal(own[key], state[key]) for key in keys)


# -- by name ---------------------------------------------------------------------------------------
def test_a_name_with_a_suffix_sets_width_and_resolution() -> None:
    model = create_model("mobilenet_v1_0.5_160")
    assert model.config.arch == "mobilenet_v1" and model.config.width_mult == 0.5
    assert model.config.default_input_size == 160 and model.preprocess.input_size == (3, 160, 160)
    assert model.stem.conv.out_channels == 16  # V1 truncates 32 * 0.5
    assert model.labels is None


def test_fields_go_to_the_config_and_a_contradiction_of_the_name_is_refused() -> None:
    model = create_model("mobilenet_v2", width_mult=0.35, num_classes=4)
    assert model.config.width_mult == 0.35 and model.classifier.out_features == 4
    with pytest.raises(ValueError, match=r"width_mult=0.75 contradicts the model name 'mobilenet_v1_0.5'"):
        create_model("mobilenet_v1_0.5", width_mult=0.75)


def test_an_unknown_name_or_no_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown model 'mobilenet_v5'"):
        create_model("mobilenet_v5")
    with pytest.raises(ValueError, match="give a model name"):
        create_model()


# -- from a mobilenets file ------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["name", "path", "weights", "weights_path", "matching_name"])
def test_a_mobilenets_file_is_loaded_as_is(
    tiny_file: Path, tiny_state: dict[str, torch.Tensor], how: str
) -> None:
    calls = {
        "name": lambda: create_model(str(tiny_file)),
        "path": lambda: create_model(tiny_file),
        "weights": lambda: create_model(weights=str(tiny_file)),
        "weights_path": lambda: create_model(weights=tiny_file),
        "matching_name": lambda: create_model("mobilenet_v3_small_0.25", weights=tiny_file),
    }
    model = calls[how]()
    assert model.config.arch == "mobilenet_v3_small" and model.config.width_mult == 0.25
    assert model.config.num_classes == 3
    assert same_tensors(model, tiny_state)
    assert not model.training  # loaded weights come in eval mode
    assert model.labels == LABELS
    assert model.preprocess.input_size == (3, 96, 96)


@pytest.mark.parametrize(
    ("name", "holds"),
    [
        ("mobilenet_v2", "mobilenet_v3_small at width_mult=0.25"),
        ("mobilenet_v3_large_0.25", "mobilenet_v3_small at width_mult=0.25"),
        ("mobilenet_v3_small_0.5", "mobilenet_v3_small at width_mult=0.25"),
    ],
)
def test_a_name_the_file_does_not_match_is_refused_naming_both(
    tiny_file: Path, name: str, holds: str
) -> None:
    with pytest.raises(ValueError) as error:
        create_model(name, weights=tiny_file)
    message = str(error.value)
    assert f"asked for {name!r}" in message
    assert str(tiny_file) in message and holds in message


def test_a_file_as_the_name_and_weights_too_is_refused(tiny_file: Path) -> None:
    with pytest.raises(ValueError, match="is a weights file and weights=keras is given too") as error:
        create_model(str(tiny_file), weights="keras")
    assert str(tiny_file) in str(error.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"width_mult": 0.5},
        {"in_chans": 1},
        {"arch": "mobilenet_v2"},
        {"width_mult": 0.25, "depth_multiplier": 2},
    ],
)
def test_fields_that_change_shapes_are_refused_with_weights(
    tiny_file: Path, fields: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="would change the shapes of the weights") as error:
        create_model(weights=tiny_file, **fields)
    assert str(sorted(fields)) in str(error.value)  # names the offending fields


def test_free_fields_keep_the_weights(tiny_file: Path, tiny_state: dict[str, torch.Tensor]) -> None:
    assert {"dropout", "global_pool", "bn_momentum"} <= FREE_FIELDS
    model = create_model(weights=tiny_file, dropout=0.4, global_pool="max", bn_momentum=0.03)
    assert model.config.dropout == 0.4 and model.dropout.p == 0.4
    assert isinstance(model.global_pool, nn.AdaptiveMaxPool2d)
    assert model.config.bn_momentum == 0.03
    assert same_tensors(model, tiny_state)


def test_features_only_with_weights_drops_the_head(tiny_file: Path) -> None:
    """``features_only`` is a FREE_FIELD: the file's head is left out, the backbone loaded."""
    model = create_model(weights=tiny_file, features_only=True, out_indices=(2, 4))
    features = model(torch.zeros(1, 3, 64, 64))
    assert [tuple(f.shape[-2:]) for f in features] == [(8, 8), (2, 2)]  # reductions 8 and 32
    assert model.config.features_only and isinstance(model.classifier, nn.Identity)


def test_num_classes_replaces_the_head_and_keeps_the_backbone(
    tiny_file: Path, tiny_state: dict[str, torch.Tensor]
) -> None:
    model = create_model(weights=tiny_file, num_classes=7)
    assert model.config.num_classes == 7 and model.classifier.out_features == 7
    assert model.labels is None  # the file's names belong to its 3 classes
    assert same_tensors(model, tiny_state, skip="classifier.")
    same = create_model(weights=tiny_file, num_classes=3)
    assert same.labels == LABELS and same_tensors(same, tiny_state)  # nothing to replace


@pytest.mark.parametrize("source", ["keras", "torchvision", "timm", "timm:mobilenetv2_100"])
def test_an_official_source_without_a_name_is_refused(source: str) -> None:
    with pytest.raises(ValueError, match="needs a model name") as error:
        create_model(weights=source)
    assert f"weights={source}" in str(error.value)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    for call in (lambda: create_model(weights=tmp_path), lambda: create_model(str(tmp_path))):
        with pytest.raises(WeightsFileError, match="is a folder, not a weight file") as error:
            call()
        assert str(tmp_path) in str(error.value)


def test_a_missing_file_is_reported_as_missing_not_as_an_unknown_model(tmp_path: Path) -> None:
    missing = tmp_path / "typo.safetensors"
    for call in (lambda: create_model(str(missing)), lambda: create_model("mobilenet_v2", weights=missing)):
        with pytest.raises(WeightsFileError, match="no such file") as error:
            call()
        message = str(error.value)
        assert str(missing) in message and "torchvision, timm, keras" in message
        assert "unknown model" not in message


@pytest.mark.slow
def test_building_by_name_or_from_a_mobilenets_file_loads_no_converter_or_downloader(tiny_file: Path) -> None:
    """In a fresh interpreter: the converters and the downloader load only when a source needs them."""
    script = f"""
import json, sys
import mobilenets
LAZY = ("mobilenets.weights.convert", "mobilenets.weights.official")
mobilenets.create_model("mobilenet_v3_small", width_mult=0.25, num_classes=3)
by_name = sorted(m for m in sys.modules if m.startswith(LAZY))
mobilenets.create_model({str(tiny_file)!r})
from_file = sorted(m for m in sys.modules if m.startswith(LAZY))
mobilenets.convert_weights  # resolved on first access: the check below can see a converter at all
after = sorted(m for m in sys.modules if m.startswith("mobilenets.weights.convert"))
print(json.dumps([by_name, from_file, after]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    by_name, from_file, after = json.loads(done.stdout.strip().splitlines()[-1])
    assert by_name == [] and from_file == []
    assert "mobilenets.weights.convert" in after


def test_a_training_checkpoint_given_as_weights_points_to_the_run_weights(tmp_path: Path) -> None:
    """Not 'convert it first', whose convert then says 'load it with create_model': a circle."""
    from mobilenets.cli import main

    checkpoint = tmp_path / "run" / "checkpoints" / "best.pt"
    checkpoint.parent.mkdir(parents=True)
    model = create_model("mobilenet_v1_0.25_32", num_classes=3)
    torch.save({"model": model.state_dict(), "optimizer": {}}, checkpoint)
    run = tmp_path / "run"
    expected = f"is a training checkpoint (for --resume), not a weights file; use {run / 'final.safetensors'}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        create_model(checkpoint)
    with pytest.raises(ValueError, match=re.escape(expected)):
        create_model("mobilenet_v1_0.25_32", weights=checkpoint)
    assert main(["convert", str(checkpoint), str(tmp_path / "out.safetensors")]) == 2
    assert not (tmp_path / "out.safetensors").exists()
