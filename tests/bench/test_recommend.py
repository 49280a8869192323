"""Every path is checked by the rule of its precision, and only ours that passed are recommended."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mobilenets.bench.backends as bench_backends
from mobilenets.bench.checks import CheckSet, check_path
from mobilenets.bench.cpu_peak import estimate_cpu_peak
from mobilenets.bench.recommend import file_candidates, recommend
from mobilenets.bench.registry import BACKENDS, OUR_NAMES, PEER_NAMES
from mobilenets.bench.timing import BenchReport, BenchResult, run_bench
from mobilenets.cli import main
from mobilenets.export.runtimes import openvino_capabilities, runtime_missing

ONNX = runtime_missing("onnx") is None and runtime_missing("onnxruntime") is None
OPENVINO = ONNX and runtime_missing("openvino") is None


def _checks(images: bool) -> CheckSet:
    generator = np.random.default_rng(0)
    reference = generator.normal(size=(200, 10)).astype(np.float32) * 5
    return CheckSet(np.zeros((200, 3, 8, 8), np.float32), reference, None, images, "test")


def test_fp32_paths_are_judged_by_parity_relative_to_the_logit_scale() -> None:
    checks = _checks(images=False)
    scale = float(np.abs(checks.reference[:8]).max())
    close = check_path("fp32", lambda x: checks.reference[: len(x)] + 0.5e-4 * scale, checks)
    far = check_path("fp32", lambda x: checks.reference[: len(x)] + 2e-4 * scale, checks)
    assert close.passed is True and far.passed is False
    assert close.report["samples"] == 8  # parity needs only a few inputs
    assert far.summary.startswith("FAIL")


def test_lower_precisions_need_real_images_and_99_percent_top1_agreement() -> None:
    unchecked = check_path("int8", lambda x: np.zeros((len(x), 10)), _checks(images=False))
    assert unchecked.passed is None and "--calib" in str(unchecked.report["note"])

    checks = _checks(images=True)
    swapped = checks.reference.copy()
    swapped[:3] = -swapped[:3]  # 3 of 200 images change their top-1 class: 98.5% agreement
    verdict = check_path("bf16", _slicer(swapped), checks)
    assert verdict.passed is False and verdict.report["agreement"] == pytest.approx(197 / 200)
    swapped[2] = checks.reference[2]  # 2 of 200 differ: exactly 99%, which passes
    verdict = check_path("int8", _slicer(swapped), checks)
    assert verdict.passed is True and verdict.report["disagreements"] == 2


def _slicer(logits: np.ndarray):  # type: ignore[no-untyped-def]
    """A predictor that answers ``logits`` for the check's chunks, in order."""
    position = {"next": 0}

    def predict(batch: np.ndarray) -> np.ndarray:
        start = position["next"]
        position["next"] += len(batch)
        return logits[start : start + len(batch)]

    return predict


def _row(
    backend: str, ms: float, passed: bool | None, precision: str = "fp32", peer: bool = False
) -> BenchResult:
    row = BenchResult("m", backend, precision, 1, 2, median_ms=ms, peer=peer)
    row.check_passed, row.check = passed, {True: "pass", False: "FAIL", None: "unchecked"}[passed]
    return row


def test_the_recommendation_is_our_fastest_path_that_passed_and_never_a_peer() -> None:
    rows = [
        _row("plain-openvino", 1.0, True, "bf16", peer=True),  # fastest of all, but a peer
        _row("plain-onnxruntime", 4.0, True, peer=True),
        _row("openvino-int8", 1.5, False, "int8"),  # faster, failed its check
        _row("onnxruntime-int8", 1.8, None, "int8"),  # faster, unchecked
        _row("executorch", 2.0, True),
        _row("onnxruntime", 3.0, True),
    ]
    report = BenchReport(rows, estimate_cpu_peak(2), 2)
    choice = recommend(report, "m", 1)
    assert choice.best is rows[4] and choice.best_peer is rows[0]
    assert choice.ratio == pytest.approx(2.0)
    assert [row.backend for row in choice.passed_over] == ["openvino-int8", "onnxruntime-int8"]
    text = "\n".join(choice.lines())
    assert (
        "use executorch (fp32), 2.00 ms" in text
        and "2.00x the fastest peer default, plain-openvino (bf16" in text
    )
    assert "not openvino-int8" in text and "failed its check" in text and "could not be checked" in text
    only_files = recommend(report, "m", 1, candidates=("onnxruntime",))
    assert only_files.best is rows[5]
    nothing = recommend(BenchReport(rows[:4], estimate_cpu_peak(2), 2), "m", 1)
    assert nothing.best is None and "no path of ours passed" in nothing.lines()[0]
    # The unchecked one is named, with the way to check it.
    assert "onnxruntime-int8 could not be checked without images: pass --calib DIR" in nothing.lines()[0]
    failed_only = recommend(BenchReport(rows[:3], estimate_cpu_peak(2), 2), "m", 1)
    (line,) = failed_only.lines()
    assert line == "m, batch 1: no path of ours passed its check; see the table's check column"


def test_the_registry_separates_peer_defaults_from_our_paths() -> None:
    assert set(PEER_NAMES) == {"eager", "torch-compile", "plain-onnxruntime", "plain-openvino"}
    assert {"openvino-bf16", "openvino-fp16", "channels_last-bf16", "executorch-int8"} <= set(OUR_NAMES)
    assert all(BACKENDS[name].peer for name in PEER_NAMES) and not any(BACKENDS[n].peer for n in OUR_NAMES)
    # Only paths that are a file can be written by export --format auto.
    assert set(file_candidates(int8=True)) == {"onnxruntime-int8", "openvino-int8", "executorch-int8"}
    assert set(file_candidates(int8=False, export_format="executorch")) == {"executorch"}
    assert "compile" not in file_candidates() and "channels_last-bf16" not in file_candidates()


def test_bf16_paths_are_offered_only_where_the_hardware_computes_bf16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # torch.cpu's probes are never patched: PyTorch caches them, and a CPU wrongly said to have
    # AMX later gets AMX kernels (this crashed a later ExecuTorch test in the same process).
    monkeypatch.setattr(bench_backends, "torch_cpu_computes", lambda precision: False)
    assert "no bf16 instructions" in str(bench_backends.ChannelsLastBf16().missing())
    assert "AMX-FP16" in str(bench_backends.ChannelsLastFp16().missing())
    monkeypatch.setattr(bench_backends, "torch_cpu_computes", lambda precision: precision == "bf16")
    assert bench_backends.ChannelsLastBf16().missing() is None
    if OPENVINO:
        monkeypatch.setattr(bench_backends, "openvino_capabilities", lambda: frozenset({"FP32", "INT8"}))
        assert "computes no bf16" in str(bench_backends.OpenVinoBf16().missing())
        monkeypatch.setattr(bench_backends, "openvino_capabilities", lambda: frozenset({"FP32", "BF16"}))
        assert bench_backends.OpenVinoBf16().missing() is None
        assert "computes no fp16" in str(bench_backends.OpenVinoFp16().missing())


@pytest.mark.skipif(not OPENVINO, reason="needs onnx, onnxruntime and openvino (the deploy extra)")
def test_bench_checks_every_path_on_held_out_digits(
    digits_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bf16 forced on, as on an AMX machine: PyTorch emulates it here, with the same rounding.
    monkeypatch.setattr(bench_backends.ChannelsLastBf16, "emulate", True)
    backends = ["eager", "plain-openvino", "onnxruntime", "onnxruntime-int8", "channels_last-bf16"]
    report = run_bench([digits_weights], backends, [1], threads=1, warmup=1, min_seconds=0.05, calib="digits")
    rows = {row.backend: row for row in report.results}
    assert "held-out images" in report.check_source[digits_weights.name]
    held_out = int(str(report.check_source[digits_weights.name]).split()[0])
    assert held_out == 450  # the digits' held-out split, never used to calibrate
    assert rows["onnxruntime"].check_report["kind"] == "fp32" and rows["onnxruntime"].check_passed
    for name in ("onnxruntime-int8", "channels_last-bf16"):
        report_ = rows[name].check_report
        assert report_["kind"] == rows[name].precision and report_["samples"] == held_out
        assert float(report_["agreement"]) >= 0.99 and rows[name].check_passed  # type: ignore[arg-type]
    # OpenVINO's default compile picks its precision; the row records what it picked.
    capabilities = bench_backends.openvino_capabilities()
    assert rows["plain-openvino"].precision == ("bf16" if "BF16" in capabilities else "fp32")
    assert rows["plain-openvino"].peer and not rows["onnxruntime"].peer
    # % of peak is of the row's own precision's peak.
    int8 = rows["onnxruntime-int8"]
    assert int8.peak_share == pytest.approx((int8.gmacs_per_s or 0) / report.peak.peak("int8").gmacs)


@pytest.mark.skipif(not OPENVINO, reason="needs onnx, onnxruntime and openvino (the deploy extra)")
def test_bench_recommend_cli_names_the_fastest_checked_path(
    digits_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bench", str(digits_weights), "--recommend", "--backends", "eager,onnxruntime,onnxruntime-int8"]
    assert main([*args, "--batch", "1", "--threads", "1", "--seconds", "0.05", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "Fastest checked path on this machine" in out and ("AVX" in out or "NEON" in out)
    line = next(line for line in out.splitlines() if ", batch 1: " in line)
    assert "use onnxruntime" in line and "the fastest peer default, eager" in line
    int8_row = next(line for line in out.splitlines() if "onnxruntime-int8" in line and "│" in line)
    assert "unchecked" in int8_row  # no --calib: int8 agreement cannot be judged, so never recommended


@pytest.mark.skipif(not OPENVINO, reason="needs onnx, onnxruntime and openvino (the deploy extra)")
def test_export_format_auto_writes_the_fastest_checked_file(
    digits_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "auto.onnx"  # the .onnx name limits the contest to ONNX files
    args = ["export", str(digits_weights), "--format", "auto", "--calib", "digits", "--threads", "1"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.with_name("auto.onnx.parity.json").read_text())
    chosen = report["chosen_by_format_auto"]
    timed = chosen["timed"]
    # bf16 and fp16 files join on a CPU where OpenVINO computes them (AMX, AVX512-BF16/FP16).
    lower = {f"openvino-{p.lower()}" for p in ("BF16", "FP16") if p in openvino_capabilities()}
    assert set(timed) == {"onnxruntime", "onnxruntime-int8", "openvino", "openvino-int8"} | lower
    passed = {name: row["median_ms"] for name, row in timed.items() if row["passed"]}
    assert chosen["backend"] == min(passed, key=passed.__getitem__)
    assert report["passed"] and report["kind"] == ("int8" if chosen["precision"] == "int8" else "fp32")
    assert "fastest checked file path at batch 1" in printed and chosen["run_with"] in printed


def test_export_format_auto_refuses_a_name_it_cannot_honour(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "mobilenet_v1_0.25", "--format", "auto", "--out", "model.tflite"]) == 2
    assert "give a .onnx or .pte name" in capsys.readouterr().err
    assert main(["export", "mobilenet_v1_0.25", "--format", "auto", "--int8"]) == 2
    assert "--int8 needs calibration images" in capsys.readouterr().err
