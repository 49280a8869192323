"""ONNX export: folded, opset >= 17, dynamic batch, metadata, parity, and a consumer without us."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip(
    "onnxruntime", reason="ONNX export needs the deploy extra: pip install 'mobilenets[deploy]'"
)
onnx = pytest.importorskip("onnx", reason="ONNX export needs the deploy extra")

from mobilenets import create_model  # noqa: E402
from mobilenets.cli import main  # noqa: E402
from mobilenets.data.digits import split_digits  # noqa: E402
from mobilenets.data.images import load_image  # noqa: E402
from mobilenets.export import export_model, export_onnx, read_onnx_metadata  # noqa: E402
from mobilenets.export.runtimes import onnxruntime_runner  # noqa: E402
from mobilenets.models.preprocess import preprocess_image  # noqa: E402
from mobilenets.weights.file_format import load_model  # noqa: E402


@pytest.fixture(scope="module")
def exported(digits_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "digits.onnx"
    assert main(["export", str(digits_weights), "--format", "onnx", "--out", str(out)]) == 0
    return out


def test_graph_is_folded_opset_17_plus_with_dynamic_batch(exported: Path) -> None:
    graph = onnx.load(str(exported))
    onnx.checker.check_model(graph)
    assert max(op.version for op in graph.opset_import if op.domain in ("", "ai.onnx")) >= 17
    ops = {node.op_type for node in graph.graph.node}
    assert "BatchNormalization" not in ops and "Conv" in ops
    batch_dim = graph.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value  # symbolic, not a fixed number
    run = onnxruntime_runner(exported, threads=1, optimize=False)
    for batch in (1, 5):
        assert run(np.zeros((batch, 3, 32, 32), np.float32)).shape == (batch, 10)


def test_metadata_carries_labels_preprocess_and_config(exported: Path, digits_weights: Path) -> None:
    model = load_model(digits_weights)
    meta = read_onnx_metadata(exported)
    assert meta["labels"] == [str(d) for d in range(10)]
    pre = meta["preprocess"]
    assert isinstance(pre, dict)
    assert tuple(pre["input_size"]) == model.preprocess.input_size
    assert tuple(pre["mean"]) == model.preprocess.mean and pre["crop_pct"] == model.preprocess.crop_pct
    assert meta["config"] == model.config.to_dict() and meta["folded_batchnorm"] is True


def test_parity_report_is_written_and_within_tolerance(exported: Path) -> None:
    report = json.loads(Path(f"{exported}.parity.json").read_text())
    assert report["kind"] == "fp32" and report["passed"] is True
    assert report["relative_diff"] <= 1e-4 and report["logit_scale"] > 1.0  # a trained model's logits


def test_plain_onnxruntime_reproduces_the_package_prediction(
    exported: Path, digits_weights: Path, tmp_path: Path
) -> None:
    """Acceptance 4: a consumer with only onnxruntime, numpy and Pillow, reading the file's metadata."""
    _, held = split_digits(size=32)
    model = load_model(digits_weights)
    images, expected = [], []
    for index in range(6):  # several digits, so one lucky label cannot pass the test
        path = tmp_path / f"digit{index}.png"
        # A non-square, larger image exercises the resize-and-crop recipe, not just a cast.
        Image.fromarray(held.images[index]).resize((45, 38), Image.Resampling.BICUBIC).save(path)
        images.append(str(path))
        with torch.no_grad():
            logits = model(preprocess_image(load_image(path), model.preprocess)[None])
        expected.append(model.labels[int(logits.argmax())])  # type: ignore[index]
    script = tmp_path / "consumer.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, math, sys
            import numpy as np
            import onnxruntime
            from PIL import Image

            session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
            meta = session.get_modelmeta().custom_metadata_map
            pre, labels = json.loads(meta["preprocess"]), json.loads(meta["labels"])
            _, height, width = pre["input_size"]
            filters = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
            for path in sys.argv[2:]:
                image = Image.open(path).convert("RGB")
                target_h, target_w = pre["resize"]
                ratio = max(target_h / image.height, target_w / image.width)
                size = (max(width, round(image.width * ratio)), max(height, round(image.height * ratio)))
                image = image.resize(size, filters[pre["interpolation"]])
                left, top = (image.width - width) // 2, (image.height - height) // 2
                image = image.crop((left, top, left + width, top + height))
                x = np.asarray(image, dtype=np.float32) / 255.0
                x = (x - np.array(pre["mean"], np.float32)) / np.array(pre["std"], np.float32)
                logits = session.run(None, {session.get_inputs()[0].name: x.transpose(2, 0, 1)[None]})[0]
                print(labels[int(logits.argmax())])
            """
        )
    )
    # -I: isolated mode, so neither the working folder nor PYTHONPATH can supply mobilenets.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    check = "import mobilenets"
    blocked = subprocess.run([sys.executable, "-I", "-S", "-c", check], capture_output=True, env=env)
    assert blocked.returncode != 0  # the consumer's interpreter really cannot see the package
    site = [p for p in sys.path if p.endswith("site-packages")]
    runner = (
        "import sys; sys.path[:0] = "
        + repr(site)
        + "; sys.modules['mobilenets'] = None; sys.argv = sys.argv[1:]; "
        + "exec(open(sys.argv[0]).read())"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", runner, str(script), str(exported), *images],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


def test_tf_same_padding_exports_with_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model(
        "mobilenet_v3_small_0.75", num_classes=5, resolution_mult=96 / 224, padding="tf_same"
    )
    model.eval()
    result = export_model(model, "onnx", out=tmp_path / "tf.onnx")
    assert result.parity["passed"] is True
    ops = {node.op_type for node in onnx.load(str(result.path)).graph.node}
    assert "BatchNormalization" not in ops


def test_pools_are_global_average_pools_and_a_batch_can_be_fixed(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("mobilenet_v3_small", num_classes=7, resolution_mult=64 / 224).eval()
    # V3-Small pools 9 times in its SE blocks and once before the head: all 10 become
    # GlobalAveragePool, which the runtimes fuse, and none stays a ReduceMean.
    squeeze_excites = sum(type(module).__name__ == "SqueezeExcite" for module in model.modules())
    static = export_onnx(model, tmp_path / "static.onnx", batch=3)
    graph = onnx.load(str(static))
    ops = [node.op_type for node in graph.graph.node]
    assert "ReduceMean" not in ops and ops.count("GlobalAveragePool") == squeeze_excites + 1
    assert [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim] == [3, 3, 64, 64]
    inputs = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = model(inputs).numpy()
    actual = onnxruntime_runner(static, threads=1, optimize=False)(inputs.numpy())
    assert np.abs(actual - expected).max() <= 1e-4 * np.abs(expected).max()


def test_export_errors_are_usage_errors(tmp_path: Path, digits_weights: Path) -> None:
    assert main(["export", str(digits_weights), "--int8", "--out", str(tmp_path / "x.onnx")]) == 2
    assert main(["export", str(tmp_path / "missing.safetensors")]) == 2
    with pytest.raises(ValueError, match="opset"):
        export_onnx(create_model("mobilenet_v1_0.25"), tmp_path / "y.onnx", opset=13)
