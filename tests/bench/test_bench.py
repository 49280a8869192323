"""The benchmark: timing, skipped runtimes and reports (the peak estimate: test_cpu_peak.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mobilenets.bench.backend as bench_backend
import mobilenets.bench.backends as bench_backends
from mobilenets import create_model
from mobilenets.bench.report import bench_markdown, save_bench
from mobilenets.bench.timing import percentile, run_bench
from mobilenets.cli import main


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([0.0, 10.0], 0.9) == pytest.approx(9.0)


def test_bench_measures_skips_missing_runtimes_and_writes_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bench_backend.runtime_missing
    monkeypatch.setattr(
        bench_backend,
        "runtime_missing",
        lambda name: "executorch is not installed: pip install x" if name == "executorch" else real(name),
    )
    model = create_model("mobilenet_v1_0.25", num_classes=10, resolution_mult=64 / 224)
    report = run_bench(
        [model], ["eager", "onnxruntime", "executorch"], [1, 2], threads=1, warmup=1, min_seconds=0.05
    )
    rows = {(r.backend, r.batch): r for r in report.results}
    assert len(rows) == 6
    onnx_available = bench_backends.OnnxRuntime().missing() is None
    assert (rows[("onnxruntime", 2)].median_ms is not None) == onnx_available
    for batch in (1, 2):
        eager = rows[("eager", batch)]
        assert eager.median_ms is not None and eager.p90_ms is not None and eager.median_ms <= eager.p90_ms
        assert eager.calls >= 5 and eager.images_per_s is not None and eager.images_per_s > 0
        macs = report.macs["mobilenet_v1"]
        assert eager.gmacs_per_s == pytest.approx(macs * batch / (eager.median_ms / 1e3) / 1e9)
        assert eager.peak_share == pytest.approx(eager.gmacs_per_s / report.peak.gmacs)
        skipped = rows[("executorch", batch)]
        assert skipped.median_ms is None and "not installed" in skipped.note
    assert "not installed" in bench_markdown(report)
    paths = save_bench(report, tmp_path)
    data = json.loads((tmp_path / "bench.json").read_text())
    assert len(data["results"]) == 6 and data["cpu"]["peaks"]["fp32"]["gmacs"] > 0
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG" and len(paths) == 3


def test_bench_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "bench",
            "mobilenet_v1_0.25",
            "--backends",
            "eager",
            "--batch",
            "1",
            "--threads",
            "1",
            "--seconds",
            "0.05",
            "--warmup",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "peak fp32:" in out and "peak int8:" in out and "GMAC/s" in out
    assert (tmp_path / "bench.md").exists()


def test_bench_cli_rejects_unknown_backend(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "mobilenet_v1_0.25", "--backends", "tensorrt"]) == 2
    assert "backend 'tensorrt' is unknown" in capsys.readouterr().err


def test_bench_checks_on_the_held_out_folder(digits_weights: Path, tmp_path: Path) -> None:
    from mobilenets.data.digits import split_digits
    from tests.image_folders import digit_folder

    train, held = split_digits(size=32)
    digit_folder(tmp_path / "calib", train.images[:8], train.labels[:8])
    digit_folder(tmp_path / "check", held.images[:12], held.labels[:12])
    common = {"threads": 1, "warmup": 0, "min_seconds": 0.01}
    report = run_bench(
        [digits_weights], ["eager"], [1], calib=tmp_path / "calib", held_out=tmp_path / "check", **common
    )  # type: ignore[arg-type]
    assert report.check_source[next(iter(report.macs))].startswith("12 held-out images")
    with pytest.raises(ValueError, match=r"--held-out .* needs --calib DIR"):
        run_bench([digits_weights], ["eager"], [1], held_out=tmp_path / "check", **common)  # type: ignore[arg-type]


def test_bench_cli_held_out_without_calib_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "mobilenet_v1_0.25", "--backends", "eager", "--held-out", str(tmp_path)])
    assert code == 2
    assert "needs --calib DIR" in capsys.readouterr().err
