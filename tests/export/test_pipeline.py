"""export.pipeline: default output names, resolving the source, and refusals before any file is written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mobilenets import MobileNet, create_model
from mobilenets.export.pipeline import default_output, export_model, resolve_model
from mobilenets.weights.metadata import WeightsFileError


def tiny_model(num_classes: int = 3) -> MobileNet:
    torch.manual_seed(0)
    return create_model("mobilenet_v1_0.25_32", num_classes=num_classes)  # the 32 px minimum


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# default_output


@pytest.mark.parametrize(
    ("source", "export_format", "int8", "expected"),
    [
        ("weights.safetensors", "onnx", False, "weights.onnx"),
        ("weights.safetensors", "onnx", True, "weights.int8.onnx"),
        ("weights.safetensors", "executorch", False, "weights.pte"),
        ("weights.safetensors", "executorch", True, "weights.int8.pte"),
        (Path("runs/quick/final.safetensors"), "onnx", False, "runs/quick/final.onnx"),  # beside it
        ("mobilenet_v2_keras.h5", "executorch", False, "mobilenet_v2_keras.pte"),
        ("mobilenet_v2", "onnx", False, "mobilenet_v2.onnx"),
    ],
)
def test_default_output_is_the_source_name_with_the_format_suffix(
    source: str | Path, export_format: str, int8: bool, expected: str
) -> None:
    assert default_output(source, export_format, int8) == Path(expected)


def test_default_output_for_a_model_object_is_model() -> None:
    model = tiny_model()
    assert default_output(model, "onnx", False) == Path("model.onnx")
    assert default_output(model, "onnx", True) == Path("model.int8.onnx")
    assert default_output(model, "executorch", False) == Path("model.pte")


@pytest.mark.parametrize("name", ["mobilenet_v1_0.25", "mobilenet_v3_small_0.75_160"])
def test_default_output_keeps_a_registry_name_whole(name: str) -> None:
    assert default_output(name, "onnx", False) == Path(f"{name}.onnx")


# resolve_model


def test_resolve_model_passes_a_model_through_in_eval_mode() -> None:
    model = tiny_model()
    assert model.training
    resolved = resolve_model(model)
    assert resolved is model
    assert not any(module.training for module in resolved.modules())


def test_resolve_model_builds_a_registry_name_in_eval_mode() -> None:
    model = resolve_model("mobilenet_v1_0.25_32")
    assert isinstance(model, MobileNet)
    assert (model.config.arch, model.config.width_mult, model.config.default_input_size) == (
        "mobilenet_v1",
        0.25,
        32,
    )
    assert model.preprocess.input_size == (3, 32, 32)
    assert not any(module.training for module in model.modules())


def test_resolve_model_loads_a_weights_file(tmp_path: Path) -> None:
    from mobilenets import save_weights

    model = tiny_model().eval()
    path = save_weights(model, tmp_path / "tiny.safetensors", labels=["a", "b", "c"])
    loaded = resolve_model(str(path))
    assert not loaded.training and loaded.labels == ["a", "b", "c"]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_resolve_model_reports_a_missing_weights_file_as_missing(tmp_path: Path) -> None:
    missing = tmp_path / "typo.safetensors"
    with pytest.raises(WeightsFileError, match=r"typo\.safetensors: no such file") as info:
        resolve_model(missing)
    assert "unknown model" not in str(info.value)


# export_model: refusals, all before anything is written


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder, where default outputs would land."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_an_unknown_format_is_refused(workdir: Path) -> None:
    with pytest.raises(
        ValueError, match=r"format='tflite' is unknown; choose one of \['onnx', 'executorch'\]"
    ):
        export_model(tiny_model(), "tflite")
    assert listing(workdir) == set()


@pytest.mark.parametrize("export_format", ["onnx", "executorch"])
def test_int8_without_calibration_images_is_refused(workdir: Path, export_format: str) -> None:
    with pytest.raises(ValueError, match=r"--int8 needs calibration images"):
        out = workdir / "new" / f"x.int8.{'onnx' if export_format == 'onnx' else 'pte'}"
        export_model(tiny_model(), export_format, int8=True, out=out)
    assert listing(workdir) == set()


@pytest.mark.parametrize("samples", [0, -1])
def test_calib_samples_below_one_is_refused(workdir: Path, samples: int) -> None:
    with pytest.raises(ValueError, match=rf"calib_samples={samples} must be >= 1"):
        export_model(tiny_model(), "onnx", int8=True, calib="digits", calib_samples=samples)
    assert listing(workdir) == set()


def test_an_output_with_the_wrong_suffix_is_refused(workdir: Path) -> None:
    with pytest.raises(
        ValueError,
        match=r"x\.pte: .pte is the executorch suffix.*add --format executorch, or name the file x\.onnx",
    ):
        export_model(tiny_model(), "onnx", out=workdir / "x.pte")
    with pytest.raises(ValueError, match=r"the exported file .*x\.txt: the file name must end in \.onnx"):
        export_model(tiny_model(), "onnx", out=workdir / "x.txt")
    assert listing(workdir) == set()


def test_a_folder_that_cannot_be_written_fails_before_the_model_is_loaded(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root, permissions do not stop a write, so the refusal is the system's, simulated."""
    import errno

    import mobilenets.export.pipeline as pipeline
    import mobilenets.output_paths as output_paths

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    def never(*args: object) -> None:
        raise AssertionError("the model was loaded before the output path was checked")

    monkeypatch.setattr(output_paths.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(pipeline, "resolve_model", never)
    with pytest.raises(OSError, match="Read-only") as error:
        export_model("mobilenet_v1_0.25_32", "onnx", out=workdir / "out" / "x.onnx")
    assert error.value.filename == str(workdir / "out" / "x.onnx")
    assert listing(workdir) == set()


@pytest.mark.slow
def test_a_failed_export_leaves_the_previous_file_as_it_was(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills mid-write must not replace a good export with a cut-off one."""
    pytest.importorskip("onnxruntime", reason="ONNX export needs the deploy extra")
    pytest.importorskip("onnxscript", reason="ONNX export needs the deploy extra")
    import errno

    import mobilenets.export.pipeline as pipeline

    good = export_model(tiny_model(), "onnx", out=workdir / "m.onnx")
    before = {name: (workdir / name).read_bytes() for name in listing(workdir)}

    def disk_full(model: object, path: Path, **kwargs: object) -> Path:
        Path(path).write_bytes(b"half an ONNX file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "export_onnx", disk_full)
    with pytest.raises(OSError, match="No space") as error:
        export_model(tiny_model(), "onnx", out=workdir / "m.onnx")
    assert error.value.filename == str(good.path)  # named by the export, not by a scratch file
    assert {name: (workdir / name).read_bytes() for name in listing(workdir)} == before


def test_the_source_weights_as_output_are_refused_and_kept(workdir: Path) -> None:
    source = workdir / "weights.safetensors"
    source.write_bytes(b"precious")
    with pytest.raises(ValueError):  # a .safetensors output fails the suffix check first
        export_model(source, "onnx", out=source)
    assert source.read_bytes() == b"precious"
    assert listing(workdir) == {"weights.safetensors"}


@pytest.mark.parametrize("through_link", [False, True])
def test_an_output_that_is_the_source_file_is_refused_and_kept(workdir: Path, through_link: bool) -> None:
    # a source with the format's own suffix: only the protect check stands between it and the writer
    source = workdir / "model.onnx"
    source.write_bytes(b"precious")
    out = source
    if through_link:
        out = workdir / "link.onnx"
        out.symlink_to(source)
    with pytest.raises(ValueError, match=r"which this command reads; writing would destroy it"):
        export_model(str(source), "onnx", out=out)
    with pytest.raises(ValueError, match=r"which this command reads"):
        export_model(str(source), "onnx")  # the default output, model.onnx beside it, too
    assert source.read_bytes() == b"precious"
    assert listing(workdir) == ({"model.onnx", "link.onnx"} if through_link else {"model.onnx"})


def test_a_parity_report_path_that_cannot_be_written_is_refused_first(workdir: Path) -> None:
    (workdir / "x.onnx.parity.json").mkdir()
    with pytest.raises(ValueError, match=r"the parity report .*is a folder"):
        export_model(tiny_model(), "onnx", out=workdir / "x.onnx")
    assert listing(workdir) == {"x.onnx.parity.json"}


def test_an_output_that_is_a_folder_or_device_is_refused(workdir: Path) -> None:
    (workdir / "dir.onnx").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        export_model(tiny_model(), "onnx", out=workdir / "dir.onnx")
    (workdir / "null.onnx").symlink_to("/dev/null")
    with pytest.raises(ValueError, match="is a device"):
        export_model(tiny_model(), "onnx", out=workdir / "null.onnx")
    assert listing(workdir) == {"dir.onnx", "null.onnx"}


# export_model: one real export, tiny


@pytest.mark.slow
def test_a_tiny_onnx_export_writes_the_file_and_its_parity_report(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime", reason="ONNX export needs the deploy extra")
    pytest.importorskip("onnxscript", reason="ONNX export needs the deploy extra")
    model = tiny_model(num_classes=3)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    out = tmp_path / "new_folder" / "tiny.onnx"  # the writer creates the folder
    result = export_model(model, "onnx", out=out)

    assert result.path == Path(os.path.realpath(out)) and out.is_file()
    assert result.parity_path == Path(f"{result.path}.parity.json")
    assert listing(tmp_path) == {"new_folder", "new_folder/tiny.onnx", "new_folder/tiny.onnx.parity.json"}
    assert json.loads(result.parity_path.read_text()) == json.loads(json.dumps(result.parity))
    assert result.parity["format"] == "onnx" and result.parity["file"] == str(result.path)
    assert result.parity["passed"] is True and result.parity["kind"] == "fp32"

    # the file runs without us and gives the eager model's logits
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    (logits,) = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    assert logits.shape == (2, 3)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
