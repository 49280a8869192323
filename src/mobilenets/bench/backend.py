"""What every benchmarked path is: a ``Backend`` that prepares a model into a ``Prepared`` run.

A backend is one way of running a model on this CPU: a runtime, the file it loads, the
precision it computes in, and the options it is given. ``missing()`` says why it cannot run
here (runtime not installed, or no instructions for its precision), ``prepare(...)`` turns a
model into a timed call on a fixed batch plus a predictor for the accuracy check.

Exported files are written once per model into a scratch folder (``ExportCache``) and shared:
ONNX Runtime and OpenVINO time the same .onnx file, in every precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mobilenets.export.onnx_export import export_onnx_plain
from mobilenets.export.parity import seeded_inputs
from mobilenets.export.pipeline import write_export
from mobilenets.export.runtimes import Runner, runtime_missing
from mobilenets.models.mobilenet import MobileNet

Call = Callable[[], object]
TIMING_CALIBRATION_SAMPLES = 32


@dataclass(frozen=True)
class Prepared:
    """A path ready to run: ``call`` runs the timed batch, ``predict`` any batch (for the check).

    ``precision`` is what really runs, which a runtime may choose: OpenVINO's default compile
    picks bf16 on a CPU with AMX.
    """

    call: Call
    predict: Runner
    precision: str


@dataclass
class ExportCache:
    """Exported files of one model in a scratch folder, made on first use and reused.

    ``calibration`` holds real images for the int8 files (bias-corrected, as ``mobilenets
    export`` makes them); without it they are calibrated on Gaussian noise, which is enough
    to time the kernels (they do not depend on the ranges) but not to use or check the file.
    """

    model: MobileNet
    folder: Path
    calibration: np.ndarray | None = None
    files: dict[str, Path] = field(default_factory=dict)

    def get(self, kind: str, batch: int = 1) -> Path:
        """The file for ``kind`` ('onnx', 'onnx-int8', 'pte', 'pte-int8', 'plain-onnx').

        .pte programs and the plain ONNX export have a fixed batch, so they are made per batch.
        """
        key = f"{kind}-b{batch}" if kind.startswith(("pte", "plain")) else kind
        if key not in self.files:
            self.files[key] = self._make(kind, batch, self.folder / key)
        return self.files[key]

    def _int8_calibration(self) -> tuple[np.ndarray, bool]:
        """The calibration images and whether they are real (only then is bias correction meaningful)."""
        if self.calibration is not None:
            return self.calibration, True
        return seeded_inputs(tuple(self.model.preprocess.input_size), TIMING_CALIBRATION_SAMPLES), False

    def _make(self, kind: str, batch: int, stem: Path) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        if kind == "plain-onnx":  # what a user of a peer library exports: torch.onnx.export, nothing else
            input_size = tuple(self.model.preprocess.input_size)
            return export_onnx_plain(self.model, stem.with_suffix(".onnx"), input_size, batch)  # type: ignore[arg-type]
        file_format = "onnx" if kind.startswith("onnx") else "executorch"
        suffix = ".onnx" if file_format == "onnx" else ".pte"
        int8 = kind.endswith("int8")
        calibration, real = self._int8_calibration() if int8 else (None, False)
        return write_export(
            self.model, stem.with_suffix(suffix), file_format, int8, calibration, real, batch_size=batch
        )


class Backend:
    """One way of running a model. Subclasses set the class attributes and ``prepare``."""

    name = ""
    runtime: str | None = None  # the optional package it needs, a key of RUNTIME_PACKAGES
    precision = "fp32"  # what it is meant to compute in; ``Prepared.precision`` says what ran
    peer = False  # a peer library's default path: the comparison, never recommended
    # What ``mobilenets export --format auto`` writes for this path: (format, int8), or None
    # when the path is not a file (eager PyTorch, torch.compile).
    export_as: tuple[str, bool] | None = None
    how = ""  # how to run the exported file this way, for the recommendation

    def missing(self) -> str | None:
        """``None`` when this backend can run here, else the reason and what would fix it."""
        return runtime_missing(self.runtime) if self.runtime else None

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Prepared:
        raise NotImplementedError


def fixed_batch(run: Runner, batch: int) -> Runner:
    """``run`` (made for exactly ``batch`` images) applied to any number, padding the last chunk.

    Compiled graphs and ExecuTorch programs are specialised to the timed batch size; feeding
    the check's images in chunks of that size avoids recompiling or re-exporting for them.
    """

    def predict(images: np.ndarray) -> np.ndarray:
        outputs = []
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            filled = len(chunk)
            if filled < batch:
                chunk = np.concatenate([chunk, np.zeros((batch - filled, *chunk.shape[1:]), chunk.dtype)])
            outputs.append(np.asarray(run(chunk))[:filled])
        return np.concatenate(outputs)

    return predict


def numpy_prepared(run: Runner, inputs: torch.Tensor, precision: str) -> Prepared:
    """A runtime that takes numpy batches: time it on ``inputs``, check it in chunks of that size.

    Checking in the timed batch size keeps every session in the state it is timed in: ONNX
    Runtime plans its memory per input shape, and static-shape files and ExecuTorch programs
    take no other size.
    """
    array = np.ascontiguousarray(inputs.numpy())
    return Prepared(lambda: run(array), fixed_batch(run, len(inputs)), precision)
