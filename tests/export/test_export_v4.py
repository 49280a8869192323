"""MobileNetV4 through the export paths: folding, ONNX and ExecuTorch parity, the refused paths.

The models run at 64 px (the hybrids' attention still sees 4x4 and 2x2 maps) with trained-like
BatchNorm statistics and LayerScales, so that the logits have a real scale to compare against.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from mobilenets import create_model
from mobilenets.export.fold import count_batchnorms, fold_for_inference, folding_error
from mobilenets.models.mobile_mqa import MobileMQA
from mobilenets.models.mobilenet import MobileNet
from mobilenets.models.uib import LayerScale
from tests.export.trained_like import randomize_batchnorm

SIZE = 64


def trained_like(name: str) -> MobileNet:
    """``name`` at 64 px with random BN statistics and LayerScales near a trained model's."""
    torch.manual_seed(0)
    base = create_model(name)
    model = create_model(name, num_classes=10, resolution_mult=SIZE / base.preprocess.input_size[1])
    generator = randomize_batchnorm(model, weight_spread=0.3)
    classifier = model.classifier
    assert isinstance(classifier, nn.Linear)
    classifier.weight.data.normal_(0, 0.1, generator=generator)  # initialized at 0.01: logits near 0
    return model.eval()


@pytest.mark.parametrize("name", ["mobilenet_v4_conv_small", "mobilenet_v4_hybrid_medium"])
def test_folding_keeps_the_logits_and_only_the_attention_prenorms(name: str) -> None:
    model = trained_like(name)
    folded = fold_for_inference(model)
    x = torch.randn(3, 3, SIZE, SIZE)
    with torch.no_grad():
        scale = float(model(x).abs().max())
    attention_blocks = sum(isinstance(m, MobileMQA) for m in model.modules())
    assert count_batchnorms(folded) == attention_blocks  # one pre-norm per Mobile MQA, nothing else
    assert ("hybrid" in name) == (attention_blocks > 0)
    assert not any(isinstance(m, LayerScale) for m in folded.modules())  # folded into the convs
    assert any(isinstance(m, LayerScale) for m in model.modules()) == ("hybrid" in name)
    assert folding_error(model, folded, x) <= 1e-5 * scale


def _report(path: Path) -> dict[str, object]:
    return json.loads(Path(f"{path}.parity.json").read_text())


@pytest.mark.parametrize("name", ["mobilenet_v4_conv_small", "mobilenet_v4_hybrid_medium"])
def test_onnx_fp32_parity(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="ONNX export needs the deploy extra")
    from mobilenets.export import export_model

    result = export_model(trained_like(name), "onnx", out=tmp_path / f"{name}.onnx")
    report = _report(result.path)
    assert report["passed"] is True and float(report["relative_diff"]) <= 1e-4  # type: ignore[arg-type]
    assert float(report["logit_scale"]) > 1.0  # type: ignore[arg-type]  # a real scale, not ~0


@pytest.mark.slow  # about 30 s: torch.export, XNNPACK lowering, then the runtime
def test_executorch_fp32_parity_for_conv_small(tmp_path: Path) -> None:
    pytest.importorskip("executorch", reason="ExecuTorch export needs the deploy extra")
    from mobilenets.export import export_model

    result = export_model(trained_like("mobilenet_v4_conv_small"), "executorch", out=tmp_path / "s.pte")
    report = _report(result.path)
    assert report["passed"] is True and float(report["relative_diff"]) <= 1e-4  # type: ignore[arg-type]
    assert "XNNPACK" in json.loads(Path(f"{result.path}.json").read_text())["backend"]


@pytest.mark.slow  # about 40 s: export, calibration on 64 digits, the check on 450
def test_hybrid_int8_onnx_keeps_the_attention_prenorms_in_float(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="int8 export needs the deploy extra")
    from mobilenets.export import export_model, read_onnx_metadata

    result = export_model(
        trained_like("mobilenet_v4_hybrid_medium"), "onnx", out=tmp_path / "h.int8.onnx", int8=True,
        calib="digits", calib_samples=64,
    )  # fmt: skip
    assert result.parity["kind"] == "int8" and result.parity["samples"] == 450
    import onnx

    kept = read_onnx_metadata(result.path)["quantization"]["kept_in_float"]  # type: ignore[index]
    graph = onnx.load(str(result.path)).graph
    norms = {node.name for node in graph.node if node.op_type == "BatchNormalization"}
    attention_blocks = sum(
        isinstance(m, MobileMQA) for m in trained_like("mobilenet_v4_hybrid_medium").modules()
    )
    assert len(norms) == attention_blocks and norms <= set(kept)  # one float pre-norm per block
