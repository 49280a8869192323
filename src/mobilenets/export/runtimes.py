"""Running exported files in their own runtimes: ONNX Runtime, OpenVINO, ExecuTorch.

Each runner is a callable from a float32 NCHW numpy batch to numpy logits, so parity checks and
the benchmark treat every runtime alike. The runtimes are optional (the ``deploy`` extra);
``runtime_missing(name)`` says, without raising, whether one can be used.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mobilenets.export.foreign_noise import foreign_notices_muted

Runner = Callable[[np.ndarray], np.ndarray]

# Runtime -> (importable module, what to install).
RUNTIME_PACKAGES = {
    "onnxruntime": ("onnxruntime", "pip install 'mobilenets[deploy]' (or onnxruntime)"),
    "onnx": ("onnx", "pip install 'mobilenets[deploy]' (or onnx onnxscript)"),
    "openvino": ("openvino", "pip install 'mobilenets[deploy]' (or openvino)"),
    "executorch": ("executorch", "pip install 'mobilenets[deploy]' (or executorch)"),
}


def runtime_missing(name: str) -> str | None:
    """``None`` if runtime ``name`` can be imported, else a note saying how to install it."""
    module, hint = RUNTIME_PACKAGES[name]
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed: {hint}"
    return None


def require_runtime(name: str) -> None:
    """Raise an ImportError with the install hint when runtime ``name`` is missing."""
    missing = runtime_missing(name)
    if missing:
        raise ImportError(missing)


def onnxruntime_runner(path: str | Path, threads: int | None = None, optimize: bool = True) -> Runner:
    """A runner for an ONNX file on ONNX Runtime's CPU provider.

    Args:
        path: the .onnx file.
        threads: intra-op threads (``None``: ONNX Runtime's default, one per core).
        optimize: ``True`` enables every graph optimization (the default of ONNX Runtime
            too); ``False`` disables them, to check the file itself rather than ORT's rewrites.

    Returns:
        A callable from an NCHW float32 batch to the first output.
    """
    require_runtime("onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0])

    return run


@functools.cache
def openvino_core() -> Any:
    """The process's one OpenVINO ``Core``, kept until exit.

    OpenVINO's CPU plugin gives the thread an alternate signal stack when a Core loads it, and
    a Core restores the previous stack when it is destroyed. Two Cores destroyed out of order
    therefore leave the thread on a stack that was already freed; the next signal Python
    handles (Ctrl-C, SIGTERM, the SIGCHLD that torch's DataLoader listens for when a child
    exits) then kills the process with a segmentation fault. One Core that lives as long as
    the process never does that (tests/export/test_runtimes.py reproduces the crash).
    """
    require_runtime("openvino")
    import openvino as ov

    return ov.Core()


# Our precision names -> OpenVINO's inference precision hints, and back.
OPENVINO_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


def openvino_capabilities() -> frozenset[str]:
    """What OpenVINO's CPU plugin says this CPU computes natively, e.g. {'FP32', 'INT8', 'BF16'}."""
    return frozenset(str(item) for item in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def openvino_compiled(
    path: str | Path, threads: int | None = None, precision: str | None = "fp32", batch: int | None = None
) -> tuple[Runner, str]:
    """An ONNX (or OpenVINO IR) file compiled by OpenVINO for the CPU, and the precision it runs in.

    Args:
        path: the file.
        threads: inference threads (``None``: OpenVINO's default).
        precision: 'fp32', 'bf16' or 'fp16' is requested as the inference precision hint;
            ``None`` leaves OpenVINO's default, which on CPUs with AMX or AVX512-BF16 is bf16.
        batch: compile for exactly this batch size (the runner then takes only that size). A
            static shape lets OpenVINO plan every buffer ahead: V3-Large ran in 0.89x the time
            of the dynamic-batch compile at batch 1 (benchmarks/v3_time_profile.py).

    Returns:
        The runner, and the precision OpenVINO compiled for ('fp32', 'bf16' or 'fp16'), read
        back from the compiled model: a hint the CPU cannot honour falls back to fp32.
    """
    require_runtime("openvino")
    import openvino as ov

    core = openvino_core()
    config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"} if precision is not None else {}
    if precision is not None:
        config["INFERENCE_PRECISION_HINT"] = OPENVINO_HINTS[precision]
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = threads
    network = core.read_model(str(path))
    if batch is not None:
        image_dims = list(network.input(0).get_partial_shape())[1:]
        network.reshape({0: ov.PartialShape([batch, *image_dims])})
    compiled = core.compile_model(network, "CPU", config)
    request = compiled.create_infer_request()
    picked = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()  # 'f32', 'bf16', 'f16'
    ran = {hint: name for name, hint in OPENVINO_HINTS.items()}.get(picked, picked)

    def run(batch: np.ndarray) -> np.ndarray:
        result = request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        return np.asarray(result[compiled.output(0)])

    return run, ran


def openvino_runner(path: str | Path, threads: int | None = None, precision: str | None = "fp32") -> Runner:
    """A runner for an ONNX (or OpenVINO IR) file compiled by OpenVINO for the CPU.

    fp32 precision is requested by default: on CPUs with bf16 support OpenVINO may otherwise
    lower precision on its own, which would make an fp32 parity check meaningless.
    """
    return openvino_compiled(path, threads, precision)[0]


def executorch_runner(path: str | Path, threads: int | None = None) -> Runner:
    """A runner for an ExecuTorch ``.pte`` file through the ExecuTorch runtime's Python bindings.

    A .pte is exported for one batch size; a batch of another size is run in chunks of that
    size (the remainder padded), so any batch works for parity checks.
    """
    require_runtime("executorch")
    import torch

    with warnings.catch_warnings(), foreign_notices_muted():
        # The Python bindings flag themselves "experimental" on import and on some calls;
        # that is ExecuTorch's notice about its own API, not about this program.
        warnings.simplefilter("ignore")
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime

        if threads is not None:
            # XNNPACK's threadpool is process-wide; the bindings expose no per-program setting.
            portable_lib._unsafe_reset_threadpool(threads)
        method = Runtime.get().load_program(Path(path)).load_method("forward")
    assert method is not None
    expected = tuple(method.metadata.input_tensor_meta(0).sizes())
    program_batch = int(expected[0])

    def run(batch: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        if tensor.shape[0] == program_batch:
            return method.execute([tensor])[0].numpy()
        outputs = []
        for start in range(0, tensor.shape[0], program_batch):
            chunk = tensor[start : start + program_batch]
            filled = chunk.shape[0]
            if filled < program_batch:  # pad the last chunk to the exported batch size
                chunk = torch.cat([chunk, chunk.new_zeros((program_batch - filled, *chunk.shape[1:]))])
            outputs.append(method.execute([chunk])[0][:filled].clone())
        return torch.cat(outputs).numpy()

    return run


def runner_for_file(path: str | Path, threads: int | None = None) -> Runner:
    """The natural runner for an exported file, chosen by its suffix (.onnx or .pte)."""
    suffix = Path(path).suffix
    if suffix == ".onnx":
        return onnxruntime_runner(path, threads)
    if suffix == ".pte":
        return executorch_runner(path, threads)
    raise ValueError(f"{path}: unknown exported format {suffix!r}; expected .onnx or .pte")
