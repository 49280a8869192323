"""cli.weights_args: --weights and --model, and which model official weights default to."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mobilenets.cli.weights_args import add_weights_arguments, model_name


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="test")
    add_weights_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder: whether a file named like a source exists is under the test's control."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "weights",
    ["torchvision", "timm", "keras", "timm:mobilenetv3_large_100.ra_in1k", "torchvision:IMAGENET1K_V1"],
)
def test_official_weights_without_model_default_to_mobilenet_v2(weights: str) -> None:
    assert model_name(parse(["--weights", weights])) == "mobilenet_v2"


@pytest.mark.parametrize("weights", ["torchvision", "keras", "timm:mobilenetv3_small_100"])
def test_model_wins_over_the_default(weights: str) -> None:
    args = parse(["--weights", weights, "--model", "mobilenet_v3_small_0.75"])
    assert model_name(args) == "mobilenet_v3_small_0.75"


def test_a_weights_file_without_model_leaves_the_model_to_the_file(empty_cwd: Path) -> None:
    (empty_cwd / "model.safetensors").write_bytes(b"")
    assert model_name(parse(["--weights", "model.safetensors"])) is None
    assert model_name(parse(["--weights", "missing.safetensors"])) is None  # reported as a missing file later


def test_a_weights_file_with_model_keeps_the_model() -> None:
    assert model_name(parse(["--weights", "w.safetensors", "--model", "mobilenet_v1"])) == "mobilenet_v1"


@pytest.mark.parametrize("name", ["keras", "timm", "torchvision", "timm:my_model"])
def test_a_file_named_like_a_source_that_exists_is_a_file(empty_cwd: Path, name: str) -> None:
    assert model_name(parse(["--weights", name])) == "mobilenet_v2"  # before the file exists
    (empty_cwd / name).write_bytes(b"weights")
    assert model_name(parse(["--weights", name])) is None


def test_a_folder_named_like_a_source_is_not_a_source(empty_cwd: Path) -> None:
    (empty_cwd / "keras").mkdir()
    assert model_name(parse(["--weights", "keras"])) is None


@pytest.mark.parametrize("weights", ["kerass", "tim", "onnx", "pytorch:mobilenet_v2", "weights/timm"])
def test_names_that_are_not_sources_get_no_default(weights: str) -> None:
    assert model_name(parse(["--weights", weights])) is None


def test_weights_is_required_and_model_defaults_to_none(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse([])
    assert info.value.code == 2
    assert "required: --weights" in capsys.readouterr().err
    assert parse(["--weights", "keras"]).model is None


def test_help_names_the_default_model_and_the_sources() -> None:
    parser = argparse.ArgumentParser(prog="test")
    add_weights_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert "default: mobilenet_v2" in text
    assert "torchvision|timm|keras" in text
