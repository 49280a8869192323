"""`mobilenets bench` times MobileNetV4, conv and hybrid, and counts the attention's work too."""

from __future__ import annotations

import pytest

from mobilenets import create_model
from mobilenets.bench.timing import run_bench
from mobilenets.cli import main
from mobilenets.cost.profiler import profile


def test_bench_rows_for_a_conv_and_a_hybrid_v4() -> None:
    models = [
        create_model(name, num_classes=10, resolution_mult=64 / create_model(name).preprocess.input_size[1])
        for name in ("mobilenet_v4_conv_small", "mobilenet_v4_hybrid_medium")
    ]
    report = run_bench(models, ["eager", "channels_last"], [1], threads=1, warmup=1, min_seconds=0.05)  # type: ignore[arg-type]
    assert {(r.model, r.backend) for r in report.results} == {
        (model.config.arch, backend) for model in models for backend in ("eager", "channels_last")
    }
    assert all(r.median_ms is not None and r.gmacs_per_s and not r.note for r in report.results)
    # GMAC/s counts every multiply-add the CPU does: the hybrid's attention matmuls as well.
    hybrid = profile(models[1], (3, 64, 64))
    assert hybrid.attention_mult_adds > 0
    assert report.macs["mobilenet_v4_hybrid_medium"] == hybrid.total_mult_adds + hybrid.attention_mult_adds
    conv = profile(models[0], (3, 64, 64))
    assert report.macs["mobilenet_v4_conv_small"] == conv.total_mult_adds  # no attention


def test_bench_cli_takes_v4_names(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["bench", "mobilenet_v4_conv_small", "mobilenet_v4_hybrid_medium", "--backends", "eager",
         "--threads", "1", "--seconds", "0.05", "--warmup", "1"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "mobilenet_v4_conv_small" in out and "mobilenet_v4_hybrid_medium" in out
