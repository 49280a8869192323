"""int8 ONNX: QDQ with per-channel weights, calibrated on images, checked for agreement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip(
    "onnxruntime", reason="int8 export needs the deploy extra: pip install 'mobilenets[deploy]'"
)
onnx = pytest.importorskip("onnx", reason="int8 export needs the deploy extra")

from mobilenets.cli import main  # noqa: E402
from mobilenets.digits import split_digits  # noqa: E402
from mobilenets.export import export_model, read_onnx_metadata  # noqa: E402
from mobilenets.parity import int8_agreement  # noqa: E402


def test_int8_digits_export_agrees_with_float(digits_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "digits.int8.onnx"
    code = main(
        [
            "export",
            str(digits_weights),
            "--int8",
            "--calib",
            "digits",
            "--calib-samples",
            "64",
            "--out",
            str(out),
        ]
    )
    report = json.loads(Path(f"{out}.parity.json").read_text())
    assert report["kind"] == "int8" and report["samples"] == 450  # the whole held-out split
    assert report["float_accuracy"] > 0.8  # the fixture really learned the digits
    assert report["agreement"] >= 0.95
    assert abs(report["int8_accuracy"] - report["float_accuracy"]) < 0.05
    assert code == (0 if report["passed"] else 1)

    graph = onnx.load(str(out))
    ops = [node.op_type for node in graph.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops  # QDQ format
    # Per-channel weights: some DequantizeLinear carries one scale per output channel.
    initializers = {init.name: init for init in graph.graph.initializer}
    scale_sizes = [
        int(np.prod(initializers[node.input[1]].dims))
        for node in graph.graph.node
        if node.op_type == "DequantizeLinear" and node.input[1] in initializers
    ]
    assert max(scale_sizes) > 1
    meta = read_onnx_metadata(out)
    assert meta["labels"] == [str(d) for d in range(10)]
    assert meta["quantization"]["format"] == "QDQ"  # type: ignore[index]
    assert meta["quantization"]["calibration_images"] == 64  # type: ignore[index]


def test_folder_calibration_labels_from_subfolders_and_skips_bad_files(
    digits_weights: Path, tmp_path: Path
) -> None:
    train, _ = split_digits(size=32)
    root = tmp_path / "images"
    for index in range(40):
        label = str(int(train.labels[index]))
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(train.images[index]).save(root / label / f"{index}.png")
    (root / "broken.png").write_bytes(b"not an image")
    result = export_model(digits_weights, "onnx", out=tmp_path / "f.int8.onnx", int8=True, calib=root)
    report = result.parity
    assert report["samples"] == 10  # a quarter of the 40 readable images is held out
    assert report["float_accuracy"] is not None  # subfolder names matched the model's labels
    assert any("broken.png" in reason for reason in report["skipped_files"])  # type: ignore[union-attr]


def test_calibration_folder_must_exist(digits_weights: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such folder"):
        export_model(digits_weights, "onnx", out=tmp_path / "x.onnx", int8=True, calib=tmp_path / "none")


def test_agreement_counts_disagreements_and_accuracies() -> None:
    inputs = np.zeros((4, 1), np.float32)
    float_logits = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32)
    int8_logits = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], np.float32)
    report = int8_agreement(
        lambda x: float_logits[: len(x)], lambda x: int8_logits[: len(x)], inputs, np.array([0, 1, 0, 0])
    )
    assert report["agreement"] == 0.75 and report["disagreements"] == 1 and report["passed"] is False
    assert report["float_accuracy"] == 0.75 and report["int8_accuracy"] == 0.5
