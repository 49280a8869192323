"""ExecuTorch: .pte programs lowered to XNNPACK, run by the ExecuTorch runtime itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "executorch", reason="ExecuTorch export needs the deploy extra: pip install 'mobilenets[deploy]'"
)

from mobilenets.cli import main
from mobilenets.export import export_model
from mobilenets.export.runtimes import executorch_runner


def test_fp32_pte_matches_eager_and_carries_sidecar_metadata(digits_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "digits.pte"
    assert main(["export", str(digits_weights), "--format", "executorch", "--out", str(out)]) == 0
    report = json.loads(Path(f"{out}.parity.json").read_text())
    assert report["passed"] is True and report["relative_diff"] <= 1e-4
    sidecar = json.loads(Path(f"{out}.json").read_text())
    assert sidecar["labels"] == [str(d) for d in range(10)] and "XNNPACK" in sidecar["backend"]
    # The program has a fixed batch of 1; the runner chunks larger batches, padding the last.
    run = executorch_runner(out, threads=1)
    batch = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(run(batch)[1], run(batch[1:2])[0], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_int8_pte_agrees_with_float(digits_weights: Path, tmp_path: Path) -> None:
    result = export_model(
        digits_weights, "executorch", out=tmp_path / "d.int8.pte", int8=True, calib="digits", calib_samples=64
    )
    assert result.parity["kind"] == "int8" and result.parity["samples"] == 450
    assert float(result.parity["agreement"]) >= 0.95  # type: ignore[arg-type]
    assert result.path.stat().st_size < (tmp_path / "d.int8.pte").stat().st_size + 1


def test_percentile_observer_ignores_rare_outliers_that_the_histogram_search_keeps() -> None:
    import torch

    from mobilenets.export.percentile_observer import PercentileObserver

    values = torch.rand(122_880, generator=torch.Generator().manual_seed(0)) * 4 - 2  # uniform [-2, 2]
    values[:6] = 1000.0  # six outliers in 122,880 values (0.005%), as in test_quantize.py
    observer = PercentileObserver(dtype=torch.qint8, quant_min=-128, quant_max=127)
    observer(values)
    scale, zero_point = observer.calculate_qparams()
    # the range stays within a histogram bin ((1002 / 2048) wide) of the bulk [-2, 2]
    assert float(scale) < (4 + 2 * 1002 / 2048) / 255
    assert -128 <= int(zero_point) <= 127
    # a constant tensor has no percentile to take: the observer's own search handles it
    constant = PercentileObserver(dtype=torch.qint8, quant_min=-128, quant_max=127)
    constant(torch.full((100,), 3.0))
    assert torch.isfinite(constant.calculate_qparams()[0]).all()
