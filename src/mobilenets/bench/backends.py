"""The paths mobilenets offers, in every precision this CPU and its runtimes can compute.

fp32: folded PyTorch in NHWC, torch.compile of the folded model, our folded ONNX on ONNX Runtime
and on OpenVINO, and the ExecuTorch XNNPACK program. bf16 and fp16: OpenVINO with the precision
hint, and PyTorch autocast, where the CPU has instructions for them (a CPU without them would
only emulate them, slower than fp32). int8: the QDQ ONNX file on ONNX Runtime and OpenVINO, and
the ExecuTorch XNNPACK int8 program.

The peers' default paths, which these are measured against, are in ``peer_defaults.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from mobilenets.bench.backend import Backend, ExportCache, Prepared, fixed_batch, numpy_prepared
from mobilenets.export.fold import fold_for_inference
from mobilenets.export.runtimes import (
    executorch_runner,
    onnxruntime_runner,
    openvino_capabilities,
    openvino_compiled,
    runtime_missing,
)
from mobilenets.models.mobilenet import MobileNet

TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def torch_prepared(
    network: nn.Module,
    inputs: torch.Tensor,
    *,
    channels_last: bool = False,
    precision: str = "fp32",
    batch: int | None = None,
) -> Prepared:
    """A PyTorch module as a timed call and a predictor (autocast for bf16 / fp16).

    ``batch``: the predictor feeds the module chunks of exactly this size (for compiled graphs,
    which would otherwise recompile for every new batch size).
    """
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    @contextlib.contextmanager
    def context() -> Iterator[None]:
        with torch.inference_mode():
            if precision in TORCH_DTYPES:
                with torch.autocast("cpu", dtype=TORCH_DTYPES[precision]):
                    yield
            else:
                yield

    def forward(images: torch.Tensor) -> torch.Tensor:
        with context():
            return network(images)

    def predict(array: np.ndarray) -> np.ndarray:
        images = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        return forward(images.contiguous(memory_format=memory_format)).float().numpy()

    timed = inputs.contiguous(memory_format=memory_format)
    return Prepared(lambda: forward(timed), fixed_batch(predict, batch) if batch else predict, precision)


def torch_cpu_computes(precision: str) -> bool:
    """Whether PyTorch's CPU kernels have instructions for ``precision`` on this CPU.

    Tests replace this function, never ``torch.cpu``'s probes themselves: PyTorch caches what
    those report, and a CPU wrongly reported to have AMX later gets AMX kernels it cannot run.
    """
    if precision == "bf16":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    if precision == "fp16":
        return bool(torch.cpu._is_amx_fp16_supported())
    return True


def torch_precision_missing(precision: str) -> str | None:
    """Why PyTorch cannot compute ``precision`` natively on this CPU (``None`` if it can)."""
    if torch_cpu_computes(precision):
        return None
    if precision == "bf16":
        return (
            "this CPU has no bf16 instructions (AVX512-BF16 or AMX-BF16); "
            "PyTorch would emulate bf16, slower than fp32"
        )
    return "this CPU has no fp16 matrix instructions (AMX-FP16) that PyTorch's CPU kernels use"


class ChannelsLast(Backend):
    """Eager PyTorch with folded batch norm and NHWC (channels_last) memory, which oneDNN prefers."""

    name = "channels_last"

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Prepared:
        return torch_prepared(fold_for_inference(model), inputs, channels_last=True, precision=self.precision)


class ChannelsLastBf16(ChannelsLast):
    """The same under ``torch.autocast(dtype=bfloat16)``: oneDNN runs convolutions on AMX / AVX512-BF16."""

    name = "channels_last-bf16"
    precision = "bf16"
    # Benchmarks set this to measure bf16's numerics (not its speed) on a CPU without bf16:
    # PyTorch then emulates it, rounding exactly as the hardware would.
    emulate = False

    def missing(self) -> str | None:
        return None if self.emulate else torch_precision_missing(self.precision)


class ChannelsLastFp16(ChannelsLastBf16):
    """The same under ``torch.autocast(dtype=float16)`` (AMX-FP16 CPUs)."""

    name = "channels_last-fp16"
    precision = "fp16"


class Compile(Backend):
    """``torch.compile`` (Inductor) of the folded model; compilation happens during preparation."""

    name = "compile"

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Prepared:
        network = torch.compile(fold_for_inference(model))
        prepared = torch_prepared(network, inputs, batch=len(inputs))  # type: ignore[arg-type]
        prepared.call()  # compile now, not in the first timed call
        return prepared


class OnnxRuntime(Backend):
    """Our folded ONNX on ONNX Runtime's CPU provider, every graph optimization on."""

    name = "onnxruntime"
    runtime = "onnxruntime"
    kind = "onnx"
    export_as = ("onnx", False)
    how = "ONNX Runtime, CPUExecutionProvider"

    def missing(self) -> str | None:
        return runtime_missing("onnx") or runtime_missing("onnxruntime")

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Prepared:
        return numpy_prepared(onnxruntime_runner(cache.get(self.kind), threads), inputs, self.precision)


class OnnxRuntimeInt8(OnnxRuntime):
    """The static int8 QDQ model (per-channel weights) on ONNX Runtime."""

    name = "onnxruntime-int8"
    kind = "onnx-int8"
    precision = "int8"
    export_as = ("onnx", True)


class OpenVino(Backend):
    """Our folded ONNX compiled by OpenVINO for the CPU, in the precision this backend names."""

    name = "openvino"
    runtime = "openvino"
    kind = "onnx"
    export_as = ("onnx", False)
    how = "OpenVINO, CPU, INFERENCE_PRECISION_HINT f32, reshaped to the batch before compile"

    def missing(self) -> str | None:
        return runtime_missing("openvino") or runtime_missing("onnx") or runtime_missing("onnxruntime")

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Prepared:
        # An int8 QDQ file runs in int8 whatever the hint; the hint sets the float parts.
        hint = "fp32" if self.precision == "int8" else self.precision
        # Compiled for the timed batch: a static shape is faster (openvino_compiled).
        run, ran = openvino_compiled(cache.get(self.kind), threads, hint, batch=len(inputs))
        return numpy_prepared(run, inputs, self.precision if self.precision == "int8" else ran)


class OpenVinoBf16(OpenVino):
    """Our folded ONNX in OpenVINO with bf16 inference precision (AMX or AVX512-BF16 CPUs)."""

    name = "openvino-bf16"
    precision = "bf16"
    how = "OpenVINO, CPU, INFERENCE_PRECISION_HINT bf16, reshaped to the batch before compile"

    def missing(self) -> str | None:
        absent = super().missing()
        if absent:
            return absent
        capabilities = openvino_capabilities()
        if self.precision.upper() not in capabilities:
            listed = ", ".join(sorted(capabilities))
            return (
                f"OpenVINO computes no {self.precision} on this CPU (its optimization capabilities: {listed})"
            )
        return None


class OpenVinoFp16(OpenVinoBf16):
    """Our folded ONNX in OpenVINO with fp16 inference precision (AMX-FP16 or Arm CPUs)."""

    name = "openvino-fp16"
    precision = "fp16"
    how = "OpenVINO, CPU, INFERENCE_PRECISION_HINT f16, reshaped to the batch before compile"


class OpenVinoInt8(OpenVino):
    """The same int8 QDQ file as ``onnxruntime-int8``, compiled by OpenVINO."""

    name = "openvino-int8"
    kind = "onnx-int8"
    precision = "int8"
    export_as = ("onnx", True)
    how = "OpenVINO, CPU, reshaped to the batch before compile"


class ExecuTorch(Backend):
    """An ExecuTorch .pte lowered to XNNPACK, run by the ExecuTorch runtime (as on a phone)."""

    name = "executorch"
    runtime = "executorch"
    kind = "pte"
    export_as = ("executorch", False)
    how = "ExecuTorch runtime, XNNPACK delegate"

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Prepared:
        runner = executorch_runner(cache.get(self.kind, batch=inputs.shape[0]), threads)
        return numpy_prepared(runner, inputs, self.precision)


class ExecuTorchInt8(ExecuTorch):
    """The XNNPACK int8 .pte from the PT2E flow."""

    name = "executorch-int8"
    kind = "pte-int8"
    precision = "int8"
    export_as = ("executorch", True)


OURS: tuple[type[Backend], ...] = (
    ChannelsLast,
    ChannelsLastBf16,
    ChannelsLastFp16,
    Compile,
    OnnxRuntime,
    OnnxRuntimeInt8,
    OpenVino,
    OpenVinoBf16,
    OpenVinoFp16,
    OpenVinoInt8,
    ExecuTorch,
    ExecuTorchInt8,
)
