"""Every failure a user can cause: one line naming the file, a documented exit code, no traceback.

The corpus (``bad_inputs.py``: over 30 bad weight files, over 30 bad or odd images, bad
checkpoints) goes through every command that reads such files. ``main()`` runs in-process, so
any exception that escapes it (what a user would see as a traceback) fails the test. A few
runs go through a real subprocess as well, to check the text a user sees. No pickle payload
may ever run: it would create the marker file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
import torch

from mobilenets import create_model, save_weights
from mobilenets.cli import main
from mobilenets.cli.failures import EXIT_CODES, EXIT_PARTIAL, EXIT_USAGE
from mobilenets.printable import printable
from tests.bad_inputs import FAIL, OK, BadInput, make_bad_checkpoints, make_bad_images, make_bad_weights

FAILURE_CODES = set(EXIT_CODES) - {0}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("corpus")
    marker = root / "PAYLOAD-RAN"
    return {
        "root": root,
        "marker": marker,
        "weights": make_bad_weights(root / "weights", marker),
        "images": make_bad_images(root / "images"),
        "checkpoints": make_bad_checkpoints(root / "checkpoints", marker),
    }


@pytest.fixture(scope="module")
def good_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small two-class digits-sized classifier: 'a' and 'b'."""
    torch.manual_seed(0)
    model = create_model("mobilenet_v1", width_mult=0.25, resolution_mult=32 / 224, num_classes=2)
    return save_weights(model, tmp_path_factory.mktemp("good") / "ab.safetensors", labels=["a", "b"])


def run(capsys: pytest.CaptureFixture[str], args: Iterable[str]) -> tuple[int, list[str]]:
    """``main(args)`` in-process: its exit code and its non-empty stderr lines."""
    code = main([str(arg) for arg in args])
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def one_line_problems(
    capsys: pytest.CaptureFixture[str], items: list[BadInput], command: list[str], tmp: Path
) -> list[str]:
    """Run ``command`` (with {file} and {out} filled in) on every item; what broke the rule."""
    problems = []
    for index, item in enumerate(items):
        args = [
            a.replace("{file}", str(item.path)).replace("{out}", str(tmp / f"out{index}")) for a in command
        ]
        code, lines = run(capsys, args)
        name = printable(item.path.name)
        if code not in FAILURE_CODES:
            problems.append(f"{item.kind}: exit {code}")
        elif len(lines) != 1 or name not in lines[0]:
            problems.append(f"{item.kind}: {len(lines)} lines {lines[:3]!r}, want one naming {name!r}")
    return problems


COMMANDS = {
    "predict": ["predict", "{image}", "--weights", "{file}"],
    "eval": ["eval", "--data", "digits", "--weights", "{file}", "--out", "{out}"],
    "export": ["export", "{file}", "--out", "{out}.onnx"],
    "convert": ["convert", "{file}", "{out}.safetensors"],
    "train --pretrained": [
        "train",
        "--data",
        "digits",
        "--pretrained",
        "{file}",
        "--epochs",
        "1",
        "--out",
        "{out}",
        "--no-progress",
    ],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_weights_get_one_line_in_every_command(
    command: str, corpus: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights: list[BadInput] = corpus["weights"]
    assert len(weights) >= 30 and all(item.expect == FAIL for item in weights)
    image = next(item.path for item in corpus["images"] if item.expect == OK)
    template = [str(image) if a == "{image}" else a for a in COMMANDS[command]]
    problems = one_line_problems(capsys, weights, template, tmp_path)
    assert not problems, "\n".join(problems)
    assert not corpus["marker"].exists(), "a pickle payload ran"
    if command == "convert":
        assert not list(tmp_path.glob("*.safetensors")), "convert wrote a file from bad input"


def test_bad_checkpoints_get_one_line_on_resume(
    corpus: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoints: list[BadInput] = corpus["checkpoints"]
    assert len(checkpoints) >= 8
    problems = []
    for index, item in enumerate(checkpoints):
        out = tmp_path / f"run{index}"
        args = [
            "train",
            "--data",
            "digits",
            "--epochs",
            "1",
            "--out",
            out,
            "--resume",
            item.path,
            "--no-progress",
        ]
        code, lines = run(capsys, args)
        errors = [line for line in lines if "error" in line]
        if code != EXIT_USAGE or len(errors) != 1 or printable(item.path.name) not in errors[0]:
            problems.append(f"{item.kind}: exit {code}, {lines[-3:]!r}")
        if out.exists():  # the run failed before writing anything: no empty folder left behind
            problems.append(f"{item.kind}: left {sorted(p.name for p in out.iterdir())} in {out}")
    assert not problems, "\n".join(problems)
    assert not corpus["marker"].exists(), "a pickle payload ran"


def test_predict_names_each_bad_image_once_and_classifies_the_odd_ones(
    corpus: dict, good_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images: list[BadInput] = corpus["images"]
    bad = [item for item in images if item.expect == FAIL]
    odd = [item for item in images if item.expect == OK]
    assert len(images) >= 30 and len(bad) >= 15 and len(odd) >= 15
    out = tmp_path / "out.json"
    code, lines = run(
        capsys, ["predict", corpus["root"] / "images", "--weights", good_weights, "--json", out]
    )
    assert code == EXIT_PARTIAL
    for item in bad:
        naming = [line for line in lines if printable(item.path.name) in line]
        assert len(naming) == 1, f"{item.kind}: {naming!r}"
    results = {r["path"]: r for r in json.loads(out.read_text(encoding="utf-8"))["results"]}
    for item in odd:  # json.load gives back the very str (surrogates and all) that names the file
        assert results[str(item.path)]["ok"], f"{item.kind}: {results[str(item.path)]}"
    for item in bad:
        assert not results[str(item.path)]["ok"], item.kind


def test_eval_reports_skipped_images_in_its_output_and_exit_code(
    corpus: dict, good_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images: list[BadInput] = [
        item for item in corpus["images"] if item.path.is_file() or item.path.is_symlink()
    ]
    data = tmp_path / "data"
    for index, item in enumerate(images):  # alternate the corpus between classes a and b
        folder = data / "ab"[index % 2]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / item.path.name
        if item.path.is_symlink():
            target.symlink_to(os.readlink(item.path))
        else:
            target.write_bytes(item.path.read_bytes())
    code, lines = run(capsys, ["eval", "--data", data, "--weights", good_weights, "--out", tmp_path / "eval"])
    assert code == EXIT_PARTIAL
    report = json.loads((tmp_path / "eval" / "eval.json").read_text(encoding="utf-8"))
    bad_names = {item.path.name for item in images if item.expect == FAIL}
    assert {Path(path).name for path in report["skipped"]} == bad_names
    assert report["images"] == len(images) - len(bad_names)  # the accuracy counts readable images
    for name in bad_names:
        assert len([line for line in lines if printable(name) in line]) == 1, name


def test_a_training_set_of_unreadable_images_stops_with_one_line(
    corpus: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every bad file that Pillow cannot even identify: two classes of them.
    bad = [item for item in corpus["images"] if item.expect == FAIL and item.path.is_file()]
    for index, item in enumerate(bad):
        folder = tmp_path / "data" / "ab"[index % 2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / item.path.name).write_bytes(item.path.read_bytes())
    out = tmp_path / "run"
    args = ["train", "--data", tmp_path / "data", "--epochs", "1", "--batch-size", "2", "--out", out]
    code, lines = run(capsys, [*args, "--no-progress", "--resolution", "32"])
    assert code == EXIT_USAGE
    assert "can be read" in lines[-1] or "could be decoded" in lines[-1], lines[-1]
    assert not (out / "final.safetensors").exists() and not (out / "best.safetensors").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["profile", "mobilenet_v1", "--width", "inf"], "width_mult=inf"),
        (["predict", "{image}", "--weights", "{weights}/st-truncated-tensor.safetensors"], "truncated"),
        (["eval", "--data", "digits", "--weights", "{weights}/pth-random.pth"], "pth-random"),
        (["convert", "{weights}/pytorch_model.bin", "{tmp}/x.safetensors"], "pytorch_model.bin"),
    ],
)  # fmt: skip
def test_the_real_command_prints_one_line_and_no_traceback(
    args: list[str], needle: str, corpus: dict, tmp_path: Path
) -> None:
    image = next(item.path for item in corpus["images"] if item.expect == OK)
    fill = {"{weights}": str(corpus["root"] / "weights"), "{tmp}": str(tmp_path), "{image}": str(image)}
    argv = []
    for arg in args:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    done = subprocess.run(
        [sys.executable, "-m", "mobilenets", *argv], capture_output=True, text=True, timeout=120, check=False
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode in FAILURE_CODES
    assert "Traceback" not in done.stderr and len(lines) == 1 and needle in lines[0], done.stderr
    debug = subprocess.run(
        [sys.executable, "-m", "mobilenets", "--debug", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" in debug.stderr  # --debug shows where it failed
