"""The command line's error boundary: one line and a documented exit code for what a user can
cause, a traceback for bugs and on request (--debug, MOBILENETS_DEBUG)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenets import create_model, save_weights
from mobilenets.atomic_files import atomic_write_bytes
from mobilenets.cli import build_parser, main
from mobilenets.cli.failures import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_SYSTEM,
    EXIT_USAGE,
    describe,
)
from mobilenets.data.images import load_image


def lines_of(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = create_model("mobilenet_v1", width_mult=0.25, resolution_mult=32 / 224, num_classes=2)
    return save_weights(model, tmp_path_factory.mktemp("w") / "m.safetensors", labels=["a", "b"])


def test_help_documents_every_exit_code() -> None:
    epilog = build_parser().epilog or ""
    for code, meaning in EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in epilog
    assert "--debug" in epilog and "MOBILENETS_DEBUG" in epilog


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("a bug, not the user's doing")

    monkeypatch.setattr("mobilenets.cli.profile.run", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["profile", "mobilenet_v1"])


@pytest.mark.parametrize("how", ["flag-before", "flag-after", "environment"])
def test_debug_shows_the_traceback_of_an_expected_failure(
    how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["profile", "mobilenet_v1", "--width", "inf"]
    if how == "flag-before":
        args = ["--debug", *args]
    elif how == "flag-after":
        args = [*args, "--debug"]
    else:
        monkeypatch.setenv("MOBILENETS_DEBUG", "1")
    assert main(args) == EXIT_USAGE  # the same exit code as without --debug
    err = capsys.readouterr().err
    assert "Traceback" in err and "ValueError" in err and "width_mult=inf" in err


def test_profile_counts_a_large_input_without_allocating_it(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert main(["profile", "mobilenet_v2", "--resolution", "4096", "--json"]) == EXIT_OK
    assert time.perf_counter() - started < 30  # built on the meta device: shapes, no memory
    assert '"input_size"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--resolution", "100000"], "sides of at most 4096 px"),
        (["--resolution-mult", "1e308"], "resolution_mult=1e+308 is out of range"),
        (["--width", "nan"], "width_mult=nan is out of range"),
    ],
)
def test_profile_refuses_sizes_beyond_any_model(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profile", "mobilenet_v1", *args]) == EXIT_USAGE
    (line,) = lines_of(capsys)
    assert words in line


def test_missing_and_folder_weights_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for target in (tmp_path / "missing.safetensors", tmp_path):
        assert main(["eval", "--data", "digits", "--weights", str(target)]) == EXIT_USAGE
        (line,) = lines_of(capsys)
        assert str(target) in line and ("no such file" in line or "is a folder" in line)


def test_convert_says_a_mobilenets_file_needs_no_conversion(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["convert", str(weights), str(tmp_path / "again.safetensors")]) == EXIT_USAGE
    (line,) = lines_of(capsys)
    assert "is already a mobilenets weight file" in line and "no metadata" not in line


def test_train_pretrained_with_a_foreign_file_says_convert_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save(create_model("mobilenet_v1_0.25").state_dict(), tmp_path / "w.pth")
    code = main(
        ["train", "--data", "digits", "--pretrained", str(tmp_path / "w.pth"), "--out", str(tmp_path / "r")]
    )
    (line,) = lines_of(capsys)
    assert code == EXIT_USAGE and "mobilenets convert" in line and "w.pth" in line
    assert not (tmp_path / "r").exists()


def test_a_permission_denied_image_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, weights: Path
) -> None:
    # Tests may run as root, whom chmod 000 does not stop: the refusal is injected at the open.
    image = tmp_path / "locked.jpg"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    real_open = Image.open

    def refuse(path: object, *args: object, **kwargs: object) -> Image.Image:
        if Path(str(path)).name == "locked.jpg":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", refuse)
    assert main(["predict", str(image), "--weights", str(weights)]) == EXIT_PARTIAL
    error = next(line for line in lines_of(capsys) if "locked.jpg" in line)
    assert "permission denied" in error and "corrupt" not in error


def test_max_pixels_can_go_above_pillows_own_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("1", (20_000, 10_000)).save(path)  # 200 MP: above Pillow's hard limit of 179 MP
    with pytest.raises(ValueError, match="exceeds the limit of 89,478,485"):
        load_image(path)
    assert load_image(path, max_pixels=250_000_000).size == (20_000, 10_000)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's own setting is back as it was


def test_a_read_only_output_folder_is_one_line(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "a.jpg"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "out.csv"))

    monkeypatch.setattr("mobilenets.predict.results_file.open", read_only, raising=False)
    code = main(["predict", str(image), "--weights", str(weights), "--csv", str(tmp_path / "out.csv")])
    (line,) = lines_of(capsys)
    assert code == EXIT_SYSTEM and "out.csv: read-only file system" in line and "writable disk" in line


# -- what a new user tried: output paths that writing would destroy ----------------------------------
def test_outputs_never_replace_a_device_pipe_input_or_other_kind_of_file(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    notes = tmp_path / "notes.md"
    notes.write_text("keep me")
    source = tmp_path / "src.safetensors"
    shutil.copy(weights, source)
    cases = [
        (["predict", image, "--weights", weights, "--json", pipe], "is a pipe (FIFO), not a regular file"),
        (["predict", image, "--weights", weights, "--json", image], "must end in .json"),
        (["predict", image, "--weights", weights, "--csv", weights], "must end in .csv"),
        (["export", weights, "--out", notes], "must end in .onnx"),
        (["convert", source, source], "which this command reads"),
        (["convert", source, notes], "must end in .safetensors"),
    ]
    for args, words in cases:
        assert main([str(a) for a in args]) == EXIT_USAGE, args
        (line,) = lines_of(capsys)
        assert words in line, line
    assert notes.read_text() == "keep me" and source.read_bytes() == weights.read_bytes()
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and image.read_bytes()[:4] == b"\x89PNG"


def test_a_symlinked_output_writes_its_target(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("{}")
    link.symlink_to(target)
    assert main(["predict", str(image), "--weights", str(weights), "--json", str(link)]) == EXIT_OK
    assert link.is_symlink() and json.loads(target.read_text())["complete"] is True


def test_atomic_writes_refuse_devices(tmp_path: Path) -> None:
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")
    with pytest.raises(ValueError, match="is a device"):
        atomic_write_bytes(device, b"x")
    assert stat.S_ISCHR(os.stat(device).st_mode)


# -- what a new user tried: other arguments --------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["eval", "--data", "digits", "--weights", "{weights}", "--device", "tpu"],
            "--device 'tpu' is not a device",
        ),
        (["train", "--data", "digits", "--out", "{file}"], "is a file; give a folder"),
        (["train", "--data", "digits", "--out", ""], "out='' names no folder"),
        (
            ["train", "--data", "digits", "--pretrained", "{weights}", "--model", "mobilenet_v3_small"],
            "contradicts",
        ),
        (["train", "--data", "digits", "--pretrained", "{weights}", "--width", "0.5"], "contradicts"),
        (["bench", "mobilenet_v1", "--seconds", "nan"], "--seconds nan"),
        (["bench", "mobilenet_v1", "--threads", "100000"], "--threads 100000"),
        (["bench", "mobilenet_v1", "--backends", ","], "names no backend"),
        (["bench", "mobilenet_v1", "--batch", "0"], "--batch: '0'"),
        (["predict", "--weights", "{weights}"], "write ./-name"),
        # An unknown option points to the sub-command's own --help, wherever it was typed.
        (["train", "--bogus"], "unrecognized arguments: --bogus; see mobilenets train --help"),
        (["--bogus", "models"], "unrecognized arguments: --bogus; see mobilenets models --help"),
    ],
)
def test_bad_arguments_are_one_line(
    args: list[str], words: str, weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("x")
    filled = [a.replace("{weights}", str(weights)).replace("{file}", str(tmp_path / "afile")) for a in args]
    try:
        code = main(filled)
    except SystemExit as exit_:  # argparse's own usage errors
        code = int(exit_.code or 0)
    (line,) = lines_of(capsys)
    assert code == EXIT_USAGE and words in line, line


def test_features_only_weights_are_refused_by_commands_that_need_a_classifier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backbone = create_model("mobilenet_v1", width_mult=0.25, features_only=True)
    path = save_weights(backbone, tmp_path / "backbone.safetensors")
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    for args in (
        ["predict", str(image), "--weights", str(path), "--json", str(tmp_path / "o.json")],
        ["eval", "--data", "digits", "--weights", str(path)],
        ["train", "--data", "digits", "--pretrained", str(path), "--out", str(tmp_path / "run")],
    ):
        assert main(args) == EXIT_USAGE
        (line,) = lines_of(capsys)
        assert str(path) in line and ("no classifier" in line or "features-only" in line), line
    assert not (tmp_path / "o.json").exists() and not (tmp_path / "run").exists()


def test_nan_weights_are_blamed_on_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = create_model("mobilenet_v1", width_mult=0.25, resolution_mult=32 / 224, num_classes=2)
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    path = save_weights(model, tmp_path / "nan.safetensors")
    assert main(["eval", "--data", "digits", "--weights", str(path)]) == EXIT_USAGE
    (line,) = lines_of(capsys)
    assert str(path) in line and "NaN or infinite values in 1 tensors (e.g. classifier.weight)" in line


def test_labels_that_would_garble_the_terminal_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = create_model("mobilenet_v1", width_mult=0.25, resolution_mult=32 / 224, num_classes=2)
    path = save_weights(model, tmp_path / "ansi.safetensors", labels=["cat", "dog\x1b[31mred"])
    assert main(["eval", "--data", "digits", "--weights", str(path)]) == EXIT_USAGE
    (line,) = lines_of(capsys)
    assert "metadata field labels" in line and "\x1b" not in line


def test_eval_split_all_reads_both_halves_of_a_train_val_layout(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for half, count in (("train", 3), ("val", 2)):
        for name in ("a", "b"):
            folder = tmp_path / "data" / half / name
            folder.mkdir(parents=True)
            for index in range(count):
                Image.fromarray(np.full((40, 40, 3), index * 40, np.uint8)).save(folder / f"{index}.png")
    out = tmp_path / "eval"
    code = main(
        [
            "eval",
            "--data",
            str(tmp_path / "data"),
            "--weights",
            str(weights),
            "--split",
            "all",
            "--out",
            str(out),
        ]
    )
    assert code == EXIT_OK
    assert (
        json.loads((out / "eval.json").read_text())["images"] == 10
    )  # 2 classes x (3 + 2), not 'train'/'val'
    capsys.readouterr()


def test_ctrl_c_while_starting_up_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("mobilenets.cli.build_parser", interrupted)
    assert main(["models"]) == EXIT_INTERRUPTED
    assert lines_of(capsys) == ["mobilenets: error: interrupted (Ctrl-C)"]


def test_an_allocation_failure_is_a_system_refusal() -> None:
    error = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried"
    )
    assert describe(error) is not None and describe(error)[0] == EXIT_SYSTEM  # type: ignore[index]


# -- what a second new user tried -------------------------------------------------------------------
def truncated_images(folder: Path, count: int) -> list[Path]:
    """PNGs whose header is intact but whose pixels are cut off: they fail only when decoded."""
    made = []
    for index in range(count):
        path = folder / f"cut{index}.png"
        pixels = np.random.default_rng(index).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
        path.write_bytes(path.read_bytes()[:300])
        made.append(path)
    return made


def test_images_that_fail_to_decode_in_loader_workers_are_still_counted(
    weights: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cut = []
    for name in ("a", "b"):
        folder = tmp_path / "data" / name
        folder.mkdir(parents=True)
        for index in range(3):
            Image.fromarray(np.full((40, 40, 3), index * 60, np.uint8)).save(folder / f"{index}.png")
        cut += truncated_images(folder, 2)
    out = tmp_path / "eval"
    args = [
        "eval",
        "--data",
        str(tmp_path / "data"),
        "--weights",
        str(weights),
        "--out",
        str(out),
        "--workers",
        "2",
    ]
    assert main(args) == EXIT_PARTIAL
    report = json.loads((out / "eval.json").read_text())
    assert set(report["skipped"]) == {str(path) for path in cut} and report["images"] == 6
    err = capfd.readouterr().err  # worker processes write to the same file descriptor
    for path in cut:
        assert err.count(f"skipping unreadable image {path}:") == 1  # named once, by the main process


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--resolution", "100000"], "resolution=100000 is out of range"),
        (["--batch-size", "1"], "BatchNorm needs 2 images"),
        (["--lr", "inf"], "lr=inf is out of range"),
        (["--momentum", "nan"], "momentum=nan is out of range"),
    ],
)
def test_train_refuses_values_no_run_can_use(
    args: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--data", "digits", "--out", str(tmp_path / "run"), *args]) == EXIT_USAGE
    (line,) = lines_of(capsys)
    assert words in line and not (tmp_path / "run").exists()


def test_side_outputs_are_checked_before_the_work(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(tmp_path / "m.onnx.parity.json")
    assert main(["export", str(weights), "--out", str(tmp_path / "m.onnx")]) == EXIT_USAGE
    (line,) = lines_of(capsys)
    assert "m.onnx.parity.json: is a pipe" in line and not (tmp_path / "m.onnx").exists()
    (tmp_path / "e").mkdir()
    os.mkfifo(tmp_path / "e" / "eval.json")
    assert (
        main(["eval", "--data", "digits", "--weights", str(weights), "--out", str(tmp_path / "e")])
        == EXIT_USAGE
    )
    (line,) = lines_of(capsys)
    assert "eval.json: is a pipe" in line and not (tmp_path / "e" / "confusion.png").exists()


def test_official_weights_without_network_are_a_system_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOBILENETS_CACHE", str(tmp_path / "cache"))

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    assert main(["eval", "--data", "digits", "--weights", "torchvision"]) == EXIT_SYSTEM
    last = lines_of(capsys)[-1]
    assert last.startswith("mobilenets eval: error:") and "https://" in last


def test_predict_counts_a_file_named_twice_once(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(folder / "a.png")
    assert (
        main(
            [
                "predict",
                str(folder),
                str(folder / "a.png"),
                str(tmp_path / "in" / ".." / "in" / "a.png"),
                "--weights",
                str(weights),
            ]
        )
        == EXIT_OK
    )
    assert "1 inputs: 1 classified, 0 failed" in capsys.readouterr().out


def test_weights_of_a_non_real_dtype_are_refused(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(weights), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    tensors["stem.conv.weight"] = tensors["stem.conv.weight"].to(torch.int8)
    save_file(tensors, str(tmp_path / "int8.safetensors"), metadata=metadata)
    assert main(["eval", "--data", "digits", "--weights", str(tmp_path / "int8.safetensors")]) == EXIT_USAGE
    (line,) = lines_of(capsys)
    assert "int8.safetensors" in line and "stem.conv.weight has dtype torch.int8" in line


def test_profile_plot_into_a_missing_folder_is_refused_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "k.png"
    assert main(["profile", "mobilenet_v1", "--plot", str(target)]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""  # no table: refused before the profile ran
    assert str(target) in captured.err and len(captured.err.strip().splitlines()) == 1


def test_export_without_its_runtime_is_one_line_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "mobilenets.cli.export.runtime_missing", lambda name: f"{name} is not installed: pip install it"
    )
    assert main(["export", "mobilenet_v1", "--format", "executorch"]) == EXIT_USAGE
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1
    assert lines[0].startswith("mobilenets export: error:") and "executorch is not installed" in lines[0]
