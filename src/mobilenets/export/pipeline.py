"""One call from a weight file to a checked deployment file: export, then verify, then record.

``export_model`` is what ``mobilenets export`` runs. Every export is followed by a parity
check in the target runtime (never in PyTorch), printed and written beside the file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from mobilenets.export.bias_correction import int8_ready_network
from mobilenets.export.calibration import ImageSet, calibration_sets, require_calib_for_held_out
from mobilenets.export.executorch_export import export_executorch
from mobilenets.export.onnx_export import export_onnx
from mobilenets.export.parity import (
    FP32_CHECK_SAMPLES,
    fp32_parity,
    int8_agreement,
    parity_path,
    seeded_inputs,
    write_parity,
)
from mobilenets.export.quantize import quantize_onnx
from mobilenets.export.runtimes import Runner, runner_for_file
from mobilenets.models.mobilenet import MobileNet
from mobilenets.output_paths import check_output_file
from mobilenets.weights.create import create_model, is_file_source

ExportFormat = Literal["onnx", "executorch"]
FORMATS: tuple[str, ...] = ("onnx", "executorch")
SUFFIXES = {"onnx": ".onnx", "executorch": ".pte"}


@dataclass(frozen=True)
class ExportResult:
    """What an export produced: the file, its parity report and where that report lives."""

    path: Path
    parity: dict[str, object]
    parity_path: Path


def resolve_model(source: str | Path | MobileNet) -> MobileNet:
    """A model from a weight file (mobilenets or foreign), a registry name (random weights), or a model.

    Anything that exists on disk, or has a weights suffix, is taken as a file: a typo in a file
    name is reported as a missing file, not as an unknown model name.
    """
    if isinstance(source, MobileNet):
        return source.eval()
    return create_model(source).eval()


def eager_predictor(model: MobileNet) -> Runner:
    """The eager PyTorch model as a numpy predictor (the reference of every parity check)."""

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()

    return run


def default_output(source: str | Path | MobileNet, export_format: str, int8: bool) -> Path:
    """``run/weights.safetensors`` -> ``run/weights.onnx`` / ``run/weights.int8.onnx`` / ``.pte`` ...

    A weights file's export goes beside it, so two runs' ``final.safetensors`` never export to
    the same file. A model name (which keeps its width: ``mobilenet_v1_0.25.onnx``) or a model
    object (``model.onnx``) exports into the current folder.
    """
    tail = f"{'.int8' if int8 else ''}{SUFFIXES[export_format]}"
    if isinstance(source, MobileNet):
        return Path(f"model{tail}")
    path = Path(source)
    if is_file_source(source):  # as create_model tells a file from a name
        return path.with_name(path.stem + tail)
    return Path(path.name + tail)  # a model name, whose width looks like a suffix


def check_export_output(source: str | Path | MobileNet, path: Path, export_format: str) -> Path:
    """The file an export of ``source`` will write, checked before the work (see ``check_output_file``):
    the format's suffix, a folder that takes it, and never the weights being exported.

    Returns:
        The path to write (a symbolic link followed).
    """
    other = {suffix: name for name, suffix in SUFFIXES.items() if name != export_format}
    if path.suffix.lower() in other:  # the user meant the other format, or mistyped the name
        raise ValueError(
            f"the exported file {path}: {path.suffix} is the {other[path.suffix.lower()]} suffix, but "
            f"the format is {export_format}; add --format {other[path.suffix.lower()]}, or name the "
            f"file {path.with_suffix(SUFFIXES[export_format]).name}"
        )
    reads = [source] if isinstance(source, str | Path) and Path(source).is_file() else []
    return check_output_file(
        path, (SUFFIXES[export_format],), "the exported file", protect=reads, create_parent=True
    )


def export_model(
    source: str | Path | MobileNet,
    export_format: ExportFormat = "onnx",
    *,
    out: str | Path | None = None,
    int8: bool = False,
    calib: str | Path | None = None,
    calib_samples: int = 256,
    held_out: str | Path | None = None,
    bias_correction: bool = True,
    batch_size: int = 1,
    extra_report: dict[str, object] | None = None,
) -> ExportResult:
    """Export a model to ONNX or ExecuTorch, fp32 or int8, and check it against the eager model.

    Args:
        source: a weight file, a registry name or a ``MobileNet``.
        export_format: 'onnx' or 'executorch'.
        out: the file to write (default: the weight file's name with the format's suffix,
            beside a weights file, else in the current folder).
        int8: quantize (ONNX: ONNX Runtime static QDQ per-channel; ExecuTorch: XNNPACK PT2E).
        calib: with ``int8``, a folder of images or ``'digits'``; part of it calibrates, the
            rest is held out for the agreement check.
        calib_samples: at most this many images calibrate.
        held_out: a folder to check agreement on instead (then none of ``calib`` is held out).
        bias_correction: with ``int8``, put the weights on the int8 grid and correct the
            biases for their rounding on the calibration images (see ``bias_correction``).
        batch_size: the batch an ExecuTorch program is exported for (ONNX files take any).
        extra_report: more entries for the parity report (``--format auto`` records its choice).

    Returns:
        The written file and its parity report (also saved as ``<file>.parity.json``).
    """
    if export_format not in FORMATS:
        raise ValueError(f"format={export_format!r} is unknown; choose one of {list(FORMATS)}")
    if int8 and calib is None:
        raise ValueError("--int8 needs calibration images: pass --calib DIR (a folder of images) or digits")
    if calib_samples < 1:
        raise ValueError(f"calib_samples={calib_samples} must be >= 1")
    require_calib_for_held_out(calib, held_out)
    path = check_export_output(
        source, Path(out) if out is not None else default_output(source, export_format, int8), export_format
    )
    check_output_file(parity_path(path), (".json",), "the parity report", create_parent=True)
    model = resolve_model(source)
    check: ImageSet | None = None
    calibration: ImageSet | None = None
    if calib is not None:
        calibration, check = calibration_sets(calib, model.preprocess, model.labels, calib_samples, held_out)

    write_export(
        model,
        path,
        export_format,
        int8,
        None if calibration is None else calibration.inputs,
        bias_correction,
        batch_size,
    )
    report = _parity(model, path, int8, check, bias_correction)
    report["file"] = str(path)
    report["format"] = export_format
    report.update(extra_report or {})
    return ExportResult(path, report, write_parity(path, report))


def write_export(
    model: MobileNet,
    path: Path,
    export_format: str,
    int8: bool = False,
    calibration: np.ndarray | None = None,
    bias_correction: bool = True,
    batch_size: int = 1,
) -> Path:
    """The export itself, unchecked; a failure leaves ``path`` (and its sidecar) as they were.

    The files are written into a scratch folder beside ``path`` and renamed into place once
    finished, so a full disk or an interrupt mid-write never replaces a good export with a
    cut-off one, and never leaves a half-written file that looks like an export.

    Args:
        model: the model, in eval mode.
        path: the file to write.
        export_format: 'onnx' or 'executorch'.
        int8: quantize, calibrating on ``calibration`` (N, C, H, W) float32.
        bias_correction: with ``int8``, correct the biases for the weights' rounding.
        batch_size: ExecuTorch programs have a fixed batch size; ONNX files a dynamic one.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as scratch:
            staged = Path(scratch) / path.name
            if export_format == "onnx" and int8:
                assert calibration is not None
                network = int8_ready_network(model, calibration, bias_correction)
                float_path = export_onnx(model, Path(scratch) / "float.onnx", network=network)
                quantize_onnx(float_path, staged, calibration)
            elif export_format == "onnx":
                export_onnx(model, staged)
            else:
                export_executorch(
                    model,
                    staged,
                    int8=int8,
                    calibration=calibration,
                    batch_size=batch_size,
                    bias_correction=bias_correction,
                )
            # The sidecar (ExecuTorch's labels and preprocessing) first: the model file is what
            # marks an export as there.
            for finished in sorted(Path(scratch).glob(f"{path.name}.*")):
                os.replace(finished, path.with_name(finished.name))
            os.replace(staged, path)
        return path
    except OSError as error:
        if error.errno is None:
            raise
        # Named by the export, not by a scratch file the user never asked for.
        raise OSError(error.errno, error.strerror, str(path)) from error


def _parity(
    model: MobileNet, path: Path, int8: bool, check: ImageSet | None, bias_correction: bool
) -> dict[str, object]:
    """The exported file run by its runtime against the eager model: agreement (int8) or error (fp32)."""
    runner = runner_for_file(path)
    reference = eager_predictor(model)
    if int8:
        assert check is not None
        report = int8_agreement(reference, runner, check.inputs, check.labels)
        report["held_out_source"] = check.source
        report["bias_correction"] = bias_correction
        report["skipped_files"] = list(check.skipped)
    else:
        inputs = check.inputs[:FP32_CHECK_SAMPLES] if check is not None and len(check) else None
        if inputs is None:  # no images given
            inputs = seeded_inputs(tuple(model.preprocess.input_size), FP32_CHECK_SAMPLES)
        report = fp32_parity(reference, runner, inputs)
    return report
