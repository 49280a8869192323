"""What a user of torchvision, timm or Keras gets without mobilenets: the peers' default paths.

Each takes the model as built (batch norm unfolded) and sets nothing but the thread count:

- ``eager``: the PyTorch module in eval mode under ``torch.inference_mode()``;
- ``torch-compile``: ``torch.compile(model)`` with its defaults;
- ``plain-onnxruntime``: ``torch.onnx.export(model, x, path)`` (batch fixed at the example's)
  in a default ONNX Runtime session;
- ``plain-openvino``: the same file in a default OpenVINO compile, in whatever precision
  OpenVINO picks (bf16 on CPUs with AMX or AVX512-BF16), which the result records.

These are the baselines: timed and checked like our paths, never recommended.
"""

from __future__ import annotations

import torch

from mobilenets.bench.backend import Backend, ExportCache, Prepared, numpy_prepared
from mobilenets.bench.backends import torch_prepared
from mobilenets.export.runtimes import onnxruntime_runner, openvino_compiled, runtime_missing
from mobilenets.models.mobilenet import MobileNet


class Eager(Backend):
    """The model as trained: PyTorch eager, batch norm unfolded, NCHW."""

    name = "eager"
    peer = True

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Prepared:
        return torch_prepared(model.eval(), inputs)


class TorchCompile(Backend):
    """``torch.compile(model)`` with its defaults (Inductor), compiled during preparation."""

    name = "torch-compile"
    peer = True

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Prepared:
        prepared = torch_prepared(torch.compile(model.eval()), inputs, batch=len(inputs))  # type: ignore[arg-type]
        prepared.call()  # compile now, not in the first timed call
        return prepared


class PlainOnnxRuntime(Backend):
    """The ordinary export in a default ONNX Runtime session (only the thread count set)."""

    name = "plain-onnxruntime"
    runtime = "onnxruntime"
    peer = True

    def missing(self) -> str | None:
        return runtime_missing("onnx") or runtime_missing("onnxruntime")

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Prepared:
        # Graph optimizations all on is ONNX Runtime's own default.
        run = onnxruntime_runner(cache.get("plain-onnx", len(inputs)), threads)
        return numpy_prepared(run, inputs, "fp32")


class PlainOpenVino(Backend):
    """The ordinary export compiled by OpenVINO with its defaults (only the thread count set)."""

    name = "plain-openvino"
    runtime = "openvino"
    peer = True

    def missing(self) -> str | None:
        return runtime_missing("openvino") or runtime_missing("onnx")

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Prepared:
        run, ran = openvino_compiled(cache.get("plain-onnx", len(inputs)), threads, precision=None)
        return numpy_prepared(run, inputs, ran)


PEERS: tuple[type[Backend], ...] = (Eager, TorchCompile, PlainOnnxRuntime, PlainOpenVino)
