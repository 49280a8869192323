"""The backends ``mobilenets bench`` compares, each a small adapter with one job:

``missing()`` says why it cannot run here (``None`` if it can), and ``prepare(...)`` turns a
model into a zero-argument callable that runs one batch. Exported files are written once per
model into a scratch folder and shared (ONNX Runtime and OpenVINO time the same .onnx file).

int8 backends are calibrated on Gaussian noise: enough to time them (the kernels do not depend
on the ranges), not to use them. ``mobilenets export --int8 --calib ...`` makes the real file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mobilenets.export.executorch_export import export_executorch
from mobilenets.export.fold import fold_for_inference
from mobilenets.export.onnx_export import export_onnx
from mobilenets.export.quantize import quantize_onnx
from mobilenets.export.runtimes import executorch_runner, onnxruntime_runner, openvino_runner, runtime_missing
from mobilenets.models.mobilenet import MobileNet

Call = Callable[[], object]
TIMING_CALIBRATION_SAMPLES = 32


@dataclass
class ExportCache:
    """Exported files of one model in a scratch folder, made on first use and reused."""

    model: MobileNet
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)

    def get(self, kind: str, batch: int = 1) -> Path:
        """The file for ``kind`` ('onnx', 'onnx-int8', 'pte', 'pte-int8'); .pte files per batch."""
        key = f"{kind}-b{batch}" if kind.startswith("pte") else kind
        if key not in self.files:
            self.files[key] = self._make(kind, batch, self.folder / key)
        return self.files[key]

    def _calibration(self) -> np.ndarray:
        generator = torch.Generator().manual_seed(0)
        shape = (TIMING_CALIBRATION_SAMPLES, *self.model.preprocess.input_size)
        return torch.randn(shape, generator=generator).numpy()

    def _make(self, kind: str, batch: int, stem: Path) -> Path:

        self.folder.mkdir(parents=True, exist_ok=True)
        if kind == "onnx":
            return export_onnx(self.model, stem.with_suffix(".onnx"))
        if kind == "onnx-int8":
            return quantize_onnx(self.get("onnx"), stem.with_suffix(".onnx"), self._calibration())
        int8 = kind == "pte-int8"
        calibration = self._calibration() if int8 else None
        return export_executorch(
            self.model, stem.with_suffix(".pte"), int8=int8, calibration=calibration, batch_size=batch
        )


class Backend:
    """One way of running a model. Subclasses set ``name``, ``runtime`` and ``prepare``."""

    name = ""
    runtime: str | None = None  # the optional package it needs, a key of RUNTIME_PACKAGES
    precision = "fp32"

    def missing(self) -> str | None:
        """``None`` when this backend can run here, else the reason and how to install it."""
        return runtime_missing(self.runtime) if self.runtime else None

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Call:
        raise NotImplementedError


def _torch_call(network: nn.Module, inputs: torch.Tensor) -> Call:
    def run() -> object:
        with torch.inference_mode():
            return network(inputs)

    return run


class Eager(Backend):
    """The model as trained: PyTorch eager, batch norm unfolded, NCHW."""

    name = "eager"

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Call:
        return _torch_call(model.eval(), inputs)


class ChannelsLast(Backend):
    """Eager PyTorch with folded batch norm and NHWC (channels_last) memory, which oneDNN prefers."""

    name = "channels_last"

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Call:
        network = fold_for_inference(model).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return _torch_call(network, inputs.contiguous(memory_format=torch.channels_last))


class Compile(Backend):
    """``torch.compile`` (Inductor) of the folded model; compilation happens during warm-up."""

    name = "compile"

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Call:
        network = torch.compile(fold_for_inference(model))
        return _torch_call(network, inputs)  # type: ignore[arg-type]


def _numpy_call(runner: Callable[[np.ndarray], np.ndarray], inputs: torch.Tensor) -> Call:
    array = np.ascontiguousarray(inputs.numpy())
    return lambda: runner(array)


class OnnxRuntime(Backend):
    """Our folded ONNX on ONNX Runtime's CPU provider, every graph optimization on."""

    name = "onnxruntime"
    runtime = "onnxruntime"
    kind = "onnx"

    def missing(self) -> str | None:
        return runtime_missing("onnx") or runtime_missing("onnxruntime")

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Call:
        return _numpy_call(onnxruntime_runner(cache.get(self.kind), threads), inputs)


class OnnxRuntimeInt8(OnnxRuntime):
    """The static int8 QDQ model (per-channel weights) on ONNX Runtime."""

    name = "onnxruntime-int8"
    kind = "onnx-int8"
    precision = "int8"


class OpenVino(Backend):
    """Our folded ONNX compiled by OpenVINO for the CPU (fp32 precision forced)."""

    name = "openvino"
    runtime = "openvino"
    kind = "onnx"

    def missing(self) -> str | None:
        return runtime_missing("openvino") or runtime_missing("onnx") or runtime_missing("onnxruntime")

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Call:
        return _numpy_call(openvino_runner(cache.get(self.kind), threads), inputs)


class OpenVinoInt8(OpenVino):
    """The same int8 QDQ file as ``onnxruntime-int8``, compiled by OpenVINO."""

    name = "openvino-int8"
    kind = "onnx-int8"
    precision = "int8"


class ExecuTorch(Backend):
    """An ExecuTorch .pte lowered to XNNPACK, run by the ExecuTorch runtime (as on a phone)."""

    name = "executorch"
    runtime = "executorch"
    kind = "pte"

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Call:
        runner = executorch_runner(cache.get(self.kind, batch=inputs.shape[0]), threads)
        return _numpy_call(runner, inputs)


class ExecuTorchInt8(ExecuTorch):
    """The XNNPACK int8 .pte from the PT2E flow."""

    name = "executorch-int8"
    kind = "pte-int8"
    precision = "int8"


BACKENDS: dict[str, type[Backend]] = {
    cls.name: cls
    for cls in (
        Eager,
        ChannelsLast,
        Compile,
        OnnxRuntime,
        OnnxRuntimeInt8,
        OpenVino,
        OpenVinoInt8,
        ExecuTorch,
        ExecuTorchInt8,
    )
}


def get_backend(name: str) -> Backend:
    """A backend by name; unknown names raise a ValueError listing the known ones."""
    try:
        return BACKENDS[name]()
    except KeyError:
        raise ValueError(f"backend {name!r} is unknown; choose from {', '.join(BACKENDS)}") from None
