"""The digits demo trained as MobileNetV4 Conv-S, end to end: `mobilenets train`, then int8 ONNX.

Acceptance 4 of the V4 issue: int8 agreement on the digits demo model trained as V4 Conv-S. The
run uses the V4 recipe's optimizer (AdamW with beta1 0.6, see ``train/presets.py``) at the
demo's 32 px; with SGD at the demo's lr 0.1 this model's loss rose in the first epochs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip(
    "onnxruntime", reason="int8 export needs the deploy extra: pip install 'mobilenets[deploy]'"
)
pytest.importorskip("sklearn", reason="the built-in digits need scikit-learn")

from mobilenets.cli import main
from mobilenets.export import export_model
from mobilenets.weights.file_format import load_model

EPOCHS = 6  # about 95% held-out top-1; 8 epochs reach 98%


@pytest.fixture(scope="module")
def v4_digits_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("v4_digits")
    code = main(
        ["train", "--data", "digits", "--model", "mobilenet_v4_conv_small", "--epochs", str(EPOCHS),
         "--optimizer", "adamw", "--lr", "0.002", "--momentum", "0.6", "--augment", "crop", "--no-hflip",
         "--crop-scale", "0.8,1", "--threads", "2", "--no-progress", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    return out / "final.safetensors"


@pytest.mark.slow  # about a minute on 2 cores: 6 epochs of training, then calibration and checking
def test_v4_conv_small_trains_on_digits_and_its_int8_onnx_agrees(
    v4_digits_weights: Path, tmp_path: Path
) -> None:
    model = load_model(v4_digits_weights)
    assert model.config.arch == "mobilenet_v4_conv_small" and model.labels == [str(d) for d in range(10)]
    summary = json.loads((v4_digits_weights.parent / "summary.json").read_text())
    assert summary["best_top1"] > 0.9  # the run learned the digits

    result = export_model(v4_digits_weights, "onnx", out=tmp_path / "v4s.int8.onnx", int8=True,
                          calib="digits", calib_samples=64)  # fmt: skip
    report = result.parity
    assert report["kind"] == "int8" and report["samples"] == 450  # the whole held-out split
    assert float(report["float_accuracy"]) > 0.9  # type: ignore[arg-type]
    assert float(report["agreement"]) >= 0.97  # type: ignore[arg-type]
    assert abs(float(report["int8_accuracy"]) - float(report["float_accuracy"])) < 0.03  # type: ignore[arg-type]
