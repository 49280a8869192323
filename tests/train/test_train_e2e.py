"""End to end through the command line: a run killed with SIGKILL resumes bit for bit, and
2-process DDP under torchrun keeps identical weights with rank 0 alone writing files."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mobilenets.train.checkpoints import load_checkpoint

# A tiny deterministic run: 1347 digits / batch 32 = 42 steps an epoch, 84 in all.
RUN = [
    "train", "--data", "digits", "--model", "mobilenet_v1", "--width", "0.25", "--resolution", "32",
    "--epochs", "2", "--batch-size", "32", "--augment", "crop", "--no-hflip", "--ema-decay", "0.9",
    "--deterministic", "--threads", "1", "--checkpoint-every", "5", "--no-progress",
]  # fmt: skip


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mobilenets", *args]


def _assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(tmp_path: Path) -> None:
    # 1. Two identical runs side by side (one core each): the reference, and one that gets
    #    SIGKILLed as soon as a checkpoint from the middle of epoch 2 exists.
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    uninterrupted = subprocess.Popen(_command(*RUN, "--out", str(reference)), **quiet)  # type: ignore[call-overload]
    process = subprocess.Popen(_command(*RUN, "--out", str(killed)), **quiet)  # type: ignore[call-overload]
    mid_epoch = killed / "checkpoints" / "ckpt-00000050.pt"  # step 50 = epoch 2, step 8 of 42
    deadline = time.monotonic() + 300
    while not mid_epoch.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "summary.json").exists()  # it really stopped part-way
    interrupted_at = load_checkpoint(killed / "checkpoints" / "last.pt")
    assert interrupted_at["epoch"] == 1 and 0 < interrupted_at["step_in_epoch"] < 42

    # 2. Resume; the result must equal the reference bit for bit (model, EMA and optimizer).
    assert uninterrupted.wait(timeout=600) == 0
    resumed = subprocess.run(
        _command(*RUN, "--out", str(killed), "--resume", "auto"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    final, expected = (
        load_checkpoint(killed / "checkpoints" / "last.pt"),
        load_checkpoint(reference / "checkpoints" / "last.pt"),
    )
    assert final["global_step"] == expected["global_step"] == 84
    _assert_same_tensors(final["model"], expected["model"])
    _assert_same_tensors(final["ema"], expected["ema"])
    momentum = [s["momentum_buffer"] for s in final["optimizer"]["state"].values()]
    assert all(
        torch.equal(m, e["momentum_buffer"])
        for m, e in zip(momentum, expected["optimizer"]["state"].values(), strict=True)
    )
    # The log has each epoch once, with the same figures as the reference.
    epochs = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    reference_epochs = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    timings = ("train_seconds", "precise_bn_seconds")
    strip = lambda records: [{k: v for k, v in r.items() if k not in timings} for r in records]  # noqa: E731
    assert strip(epochs) == strip(reference_epochs)


@pytest.mark.slow
def test_torchrun_two_processes_keep_identical_weights_and_only_rank_0_writes(tmp_path: Path) -> None:
    out, logs = tmp_path / "run", tmp_path / "logs"
    args = ["--epochs", "1", "--batch-size", "16", "--checkpoint-every", "10", "--out", str(out)]
    run = RUN[: RUN.index("--epochs")] + RUN[RUN.index("--batch-size") + 2 :]  # epochs, batch set by args
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "--log-dir", str(logs), "--redirects", "3", "-m", "mobilenets", *run, *args,
    ]  # fmt: skip
    env = {**os.environ, "MOBILENETS_PRINT_WEIGHTS_DIGEST": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    # Each rank printed the SHA-256 of its own final weights: DDP kept them identical.
    stdout = {rank: next(logs.rglob(f"attempt_0/{rank}/stdout.log")).read_text() for rank in (0, 1)}
    digests = {}
    for rank, text in stdout.items():
        lines = [line for line in text.splitlines() if line.startswith(f"weights digest rank {rank}: ")]
        assert len(lines) == 1, text
        digests[rank] = lines[0].rsplit(" ", 1)[1]
    assert digests[0] == digests[1] and len(digests[0]) == 64
    # Rank 1 printed nothing else: no progress, no log lines.
    assert stdout[1].strip().splitlines() == [f"weights digest rank 1: {digests[1]}"]
    assert "weights identical on all 2 ranks: True" in stdout[0]

    # Rank 0 alone wrote the run folder, once: every step logged once, checkpoints by rank 0.
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_identical"] is True
    assert summary["weights_sha256"] == digests[0]
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == len(set(steps)) and max(steps) == 1347 // 2 // 16
    for path in (out / "checkpoints").glob("*.pt"):
        saved = load_checkpoint(path)
        assert saved["written_by_rank"] == 0 and saved["world_size"] == 2
        assert len(saved["rng"]) == 2  # every rank's random state, for an exact resume
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert not leftovers


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        _command("demo", "--epochs", "2", "--samples", "4", "--out", str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    for step in (
        "1. Profile",
        "2. Train",
        "3. Evaluate",
        "4. Predict 4 held-out samples",
        "5. Plots",
        "Result",
    ):
        assert step in done.stdout
    assert "823,722" in done.stdout  # V1 α=0.5, 10 classes: the profile's parameter total
    assert "held-out top-1" in done.stdout and "s of training wall time" in done.stdout
    for name in ("curves.png", "confusion.png", "predictions.png", "final.safetensors", "best.safetensors"):
        assert (tmp_path / name).stat().st_size > 0

    # The demo ends by deploying the trained model: four exports, each checked, then a bench table.
    deploy = done.stdout[done.stdout.index("6. Deploy") :]
    for name in ("final.onnx", "final.int8.onnx", "final.pte", "final.int8.pte"):
        report = json.loads((tmp_path / "export" / f"{name}.parity.json").read_text())
        assert report["kind"] == ("int8" if ".int8." in name else "fp32")
        if report["kind"] == "fp32":
            assert report["passed"], report  # float exports match eager within 1e-4 of the logit scale
        else:
            assert report["samples"] > 0 and 0.0 <= report["agreement"] <= 1.0
        assert name in deploy
    bench = deploy[deploy.rindex("final.int8.pte") :]  # everything after the last export line
    assert "mobilenets bench" in bench and "median ms" in bench and "% of peak" in bench
    for backend in ("eager", "onnxruntime", "onnxruntime-int8", "openvino", "executorch"):
        assert backend in bench
    assert "Result" not in deploy  # nothing after the deploy step but its own output
