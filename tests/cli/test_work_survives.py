"""Finished work survives: odd file names, Ctrl-C, bad output paths, a second run, damaged
checkpoints, interrupted writes and a full disk."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenets import atomic_files, create_model, save_weights
from mobilenets.cli import main
from mobilenets.cli.failures import EXIT_INTERRUPTED, EXIT_OK, EXIT_SYSTEM, EXIT_TERMINATED, EXIT_USAGE
from mobilenets.cli.train import _how_to_continue
from mobilenets.train.checkpoints import load_checkpoint
from mobilenets.train.config import TrainConfig
from mobilenets.train.run_folder import RunFolderError, claim

# A tiny run: 1347 digits / batch 64 = 21 steps an epoch, about a second each on 2 cores.
TINY_RUN = [
    "train", "--data", "digits", "--model", "mobilenet_v1", "--width", "0.25", "--resolution", "32",
    "--batch-size", "64", "--no-progress", "--threads", "1",
]  # fmt: skip
NON_UTF8 = os.fsdecode(b"bad\xff\xfename.jpg")


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, list[str]]:
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, [line for line in captured.err.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = create_model("mobilenet_v1", width_mult=0.25, resolution_mult=32 / 224, num_classes=3)
    return save_weights(model, tmp_path_factory.mktemp("w") / "m.safetensors", labels=["x", "y", "z"])


def photo(path: Path, seed: int, size: int = 48) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")
    return path


def interrupt(
    args: list[str], ready: Callable[[], bool], signum: int, wait: float = 1.0, group: bool = False
) -> tuple[int, list[str]]:
    """Run ``mobilenets ARGS``, send ``signum`` ``wait`` seconds after ``ready()`` (to the whole
    process group with ``group``, as a terminal's Ctrl-C does); its exit code and stderr lines,
    which must be one line and no traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mobilenets", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=group,
        # A shell starts background jobs with Ctrl-C ignored, and children inherit that: Python then
        # never installs its KeyboardInterrupt handler. Give the command a terminal's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while process.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(wait)
    if process.poll() is not None:  # nothing left to interrupt: say so, not "0 lines"
        _, stderr = process.communicate()
        pytest.fail(f"mobilenets {args[0]} ended (exit {process.returncode}) before the signal: {stderr}")
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return process.returncode, lines


# -- predict ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["json", "csv"])
def test_a_non_utf8_file_name_is_classified_and_written(
    kind: str, weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    odd, plain = photo(folder / NON_UTF8, 1), photo(folder / "plain.jpg", 2)
    out = tmp_path / f"out.{kind}"
    code, stdout, _ = run(capsys, "predict", folder, "--weights", weights, f"--{kind}", out)
    assert code == EXIT_OK
    if kind == "json":  # \udcXX escapes: json.load gives back the str that open() takes
        document = json.loads(out.read_bytes().decode("utf-8"))
        paths = {record["path"] for record in document["results"] if record["ok"]}
        assert paths == {str(odd), str(plain)} and document["complete"] is True
        assert Path(next(p for p in paths if "bad" in p)).read_bytes() == odd.read_bytes()
    else:  # valid UTF-8 throughout, the bad bytes spelled \xNN
        with out.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert {row["path"] for row in rows} == {str(folder / "bad\\xff\\xfename.jpg"), str(plain)}
    assert "bad\\xff\\xfename.jpg" in stdout.replace("\n", "")  # the table title, printable


def test_a_bad_output_path_is_refused_before_any_work(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = photo(tmp_path / "a.jpg", 0)
    started = []
    monkeypatch.setattr("mobilenets.cli.predict.create_model", lambda *a, **k: started.append(1))
    for flag, target, words in (
        ("--json", tmp_path / "missing" / "out.json", "does not exist"),
        ("--csv", tmp_path, "is a folder"),
    ):
        code, stdout, lines = run(capsys, "predict", image, "--weights", weights, flag, target)
        assert code == EXIT_USAGE and len(lines) == 1 and str(target) in lines[0] and words in lines[0]
        assert stdout == "" and not started  # refused before the weights were even loaded


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "expected"), [(signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_TERMINATED)]
)
def test_an_interrupted_predict_keeps_every_finished_result(
    signum: int, expected: int, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    # Enough work that the run cannot finish before the signal even on a starved machine (about
    # 40 s uninterrupted); the image size hardly matters, every one is resized to 224 px.
    for index in range(1000):
        photo(folder / f"{index:04d}.jpg", index, size=64)
    big = save_weights(create_model("mobilenet_v2"), tmp_path / "v2.safetensors")  # ~40 ms an image
    out = tmp_path / "out.json"
    command = ["predict", str(folder), "--weights", str(big), "--json", str(out), "--batch-size", "1"]
    # Once the first periodic write holds results, wait a little longer, then interrupt.
    code, lines = interrupt(
        command, lambda: out.exists() and bool(json.loads(out.read_text())["results"]), signum
    )
    assert code == expected
    document = json.loads(out.read_text())
    finished = int(lines[0].split(": ")[-1].split(" of ")[0])  # "... N of 1000 inputs finished; ..."
    assert 0 < finished < 1000 and len(document["results"]) == finished and document["complete"] is False
    assert all(record["ok"] for record in document["results"])


# -- the run folder -------------------------------------------------------------------------------
def test_a_second_run_into_a_busy_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    with claim(out, resume=False, overwrite=False):  # as a running `train` holds it
        code, _, lines = run(capsys, *TINY_RUN, "--epochs", "1", "--out", out)
    assert code == EXIT_USAGE and len(lines) == 1
    assert f"{out} is in use by another training run (pid {os.getpid()} on" in lines[0]
    assert "another --out" in lines[0]
    assert not (out / "metrics.jsonl").exists()  # the refused run wrote nothing


def test_a_run_stopped_before_its_first_checkpoint_is_not_offered_a_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")  # what a run stopped in its first steps leaves
    with pytest.raises(RunFolderError) as refused, claim(out, resume=False, overwrite=False):
        pass
    assert "no checkpoint to continue from: replace it with --overwrite" in str(refused.value)
    assert "--resume" not in str(refused.value)


def test_a_stopped_run_is_told_the_command_that_picks_it_up(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # Stopped so early that the folder was removed: nothing to resume or to replace.
    assert _how_to_continue(TrainConfig(out=str(out))).endswith("start again with the same command")
    (out / "checkpoints").mkdir(parents=True)
    (out / "config.json").write_text("{}")
    assert "same command and --overwrite" in _how_to_continue(TrainConfig(out=str(out)))
    (out / "checkpoints" / "ckpt-00000005.pt").write_bytes(b"x")
    line = _how_to_continue(TrainConfig(out=str(out), overwrite=True))
    assert (
        "ckpt-00000005.pt; continue with the same command and --resume auto in place of --overwrite" in line
    )


def test_a_finished_folder_is_not_overwritten_without_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run(capsys, *TINY_RUN, "--epochs", "1", "--out", out)[0] == EXIT_OK
    before = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    final = (out / "final.safetensors").read_bytes()
    code, _, lines = run(capsys, *TINY_RUN, "--epochs", "1", "--seed", "1", "--out", out)
    assert code == EXIT_USAGE and len(lines) == 1 and "already holds a run" in lines[0]
    assert "--resume auto" in lines[0] and "--overwrite" in lines[0]
    assert {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()} == before
    assert (out / "final.safetensors").read_bytes() == final
    (out / "notes.txt").write_text("mine")
    assert run(capsys, *TINY_RUN, "--epochs", "1", "--seed", "1", "--out", out, "--overwrite")[0] == EXIT_OK
    assert (out / "final.safetensors").read_bytes() != final  # replaced, by a run of another seed
    assert (out / "notes.txt").read_text() == "mine"  # --overwrite deletes the run's files only
    assert json.loads((out / "config.json").read_text())["seed"] == 1


@pytest.mark.slow
def test_resume_auto_falls_back_past_damaged_checkpoints_and_cleans_temp_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run(capsys, *TINY_RUN, "--epochs", "2", "--out", out)[0] == EXIT_OK
    folder = out / "checkpoints"
    for name in ("ckpt-00000042.pt", "last.pt"):  # the newest two, cut short
        (folder / name).write_bytes((folder / name).read_bytes()[:1000])
    stale = [folder / ".ckpt-00000063.pt.a1b2c3d4.tmp", out / ".final.safetensors.d4e5f6_7.tmp"]
    for path in stale:  # what writes killed half-way leave behind
        path.write_bytes(b"half")
    (out / "summary.json").unlink()
    code, stdout, _ = run(capsys, *TINY_RUN, "--epochs", "2", "--out", out, "--resume", "auto")
    assert code == EXIT_OK
    assert "removed 2 temporary files" in stdout and not any(path.exists() for path in stale)
    assert "skipped an unreadable checkpoint" in stdout and "ckpt-00000042.pt" in stdout
    assert f"resumed from {folder / 'ckpt-00000021.pt'}: epoch 2" in stdout
    assert load_checkpoint(folder / "last.pt")["global_step"] == 42  # epoch 2 trained again
    assert (out / "summary.json").exists()


# -- a full disk ------------------------------------------------------------------------------------
def _fail_writes_after(monkeypatch: pytest.MonkeyPatch, checkpoints_written: int) -> None:
    """Make the disk "full" once ``checkpoints_written`` step checkpoints exist: a partial write,
    then ENOSPC, as a filling disk does."""
    real = atomic_files.write_bytes
    seen: list[str] = []

    def write(file: Any, data: Any) -> None:
        name = Path(file.name).name
        if name.startswith(".ckpt-"):
            seen.append(name)
        if len(seen) > checkpoints_written:
            file.write(bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(file, data)

    monkeypatch.setattr(atomic_files, "write_bytes", write)


def test_a_full_disk_during_a_checkpoint_write_is_one_line_and_resume_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        _fail_writes_after(patch, checkpoints_written=1)
        code, _, lines = run(capsys, *TINY_RUN, "--epochs", "2", "--out", out)
    assert code == EXIT_SYSTEM and len(lines) == 1, lines
    assert str(out / "checkpoints") in lines[0] and "no space left on device" in lines[0]
    assert "--resume auto" in lines[0]
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.endswith(".tmp")]  # no half files
    first = load_checkpoint(out / "checkpoints" / "ckpt-00000021.pt")  # the earlier checkpoint loads
    assert (
        first["global_step"] == 21 and load_checkpoint(out / "checkpoints" / "last.pt")["global_step"] == 21
    )
    # Space is back: the run continues where it stopped and finishes.
    code, stdout, _ = run(capsys, *TINY_RUN, "--epochs", "2", "--out", out, "--resume", "auto")
    assert code == EXIT_OK and "resumed from" in stdout
    assert load_checkpoint(out / "checkpoints" / "last.pt")["global_step"] == 42


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


@pytest.mark.slow
def test_a_really_full_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same on a real filesystem that fills up: a small tmpfs (needs root; skipped otherwise)."""
    # How much one epoch leaves on disk, measured on the ordinary disk first.
    dry = tmp_path / "dry"
    assert run(capsys, *TINY_RUN, "--epochs", "1", "--out", dry)[0] == EXIT_OK
    only_at_the_end = ("final.safetensors", "curves.png", "summary.json")
    after_epoch_1 = sum(
        p.stat().st_size for p in dry.rglob("*") if p.is_file() and p.name not in only_at_the_end
    )
    checkpoint_size = (dry / "checkpoints" / "last.pt").stat().st_size
    disk = tmp_path / "disk"
    if shutil.which("mount") is None or not _mount_tmpfs(disk, "64m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        # Leave room for epoch 1's files and half a checkpoint more: epoch 2 cannot be saved.
        spare = shutil.disk_usage(disk).free - after_epoch_1 - checkpoint_size // 2
        (disk / "filler").write_bytes(b"\0" * spare)
        out = disk / "run"
        code, _, lines = run(capsys, *TINY_RUN, "--epochs", "2", "--out", out)
        assert code == EXIT_SYSTEM and len(lines) == 1, lines
        assert str(out) in lines[0] and "no space left on device" in lines[0]
        assert not list(out.rglob("*.tmp"))
        assert load_checkpoint(out / "checkpoints" / "ckpt-00000021.pt")["global_step"] == 21
        (disk / "filler").unlink()  # space is back
        code, stdout, _ = run(capsys, *TINY_RUN, "--epochs", "2", "--out", out, "--resume", "auto")
        assert code == EXIT_OK and "resumed from" in stdout
        assert load_checkpoint(out / "checkpoints" / "last.pt")["global_step"] == 42
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_ctrl_c_during_training_names_the_checkpoint_to_resume_from(workers: int, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        *TINY_RUN,
        "--epochs",
        "30",
        "--checkpoint-every",
        "5",
        "--workers",
        str(workers),
        "--out",
        str(out),
    ]

    # With loader workers, Ctrl-C reaches them too (the whole process group): still one line.
    # Any checkpoint from step 10 on: the oldest are removed as new ones come (the newest 3 are
    # kept), so waiting for one file could miss it on a busy machine and never interrupt.
    def ready() -> bool:
        return any(int(path.stem[5:]) >= 10 for path in (out / "checkpoints").glob("ckpt-*.pt"))

    code, lines = interrupt(args, ready, signal.SIGINT, wait=0, group=workers > 0)
    assert code == EXIT_INTERRUPTED
    newest = sorted((out / "checkpoints").glob("ckpt-*.pt"))[-1]
    assert (
        f"the newest checkpoint is {newest}; continue with the same command and --resume auto (--out {out})"
        in lines[0]
    )
    assert not (out / ".lock").exists()  # the folder is free for that resume
    assert load_checkpoint(newest)["global_step"] >= 10
