"""Where MobileNetV3's time goes in ONNX Runtime and OpenVINO, and which of our choices change it.

The deployment issue asks to profile V3 in the fastest runtimes (squeeze-and-excite, hard-swish,
depthwise 5x5, layout transposes) and to fix what is ours to fix: the graph form, the runtime
options and the int8 quantization choices. For V3-Large and V3-Small (224 px, 2 threads, batch
1 and 32) this script

1. checks which operators our folded ONNX file holds for hard-swish and the SE gate, against the
   plain ``torch.onnx.export`` file and against what ONNX Runtime makes of it after its graph
   optimizations (``onnx`` package);
2. breaks the latency down per operator kind: ONNX Runtime's node profiler
   (``SessionOptions.enable_profiling``) and OpenVINO's performance counters
   (``PERF_COUNT`` / ``get_profiling_info()``, executed layers mapped back to the ONNX nodes
   they fuse through the runtime model's ``originalLayersNames``), fp32 and the int8 QDQ file of
   ``mobilenets.export.quantize.quantize_onnx``; it flags OpenVINO's reference ('ref') kernels
   and the Reorder / Transpose layers the runtimes insert;
3. times every candidate fix against our current path (``runtimes.onnxruntime_runner`` /
   ``openvino_runner`` on ``export_onnx``'s file) in the same process, in interleaved rounds
   (each round runs every candidate of a group in a fresh random order, each a few calls after
   one untimed call), and reports the median over rounds of the per-round ratio
   candidate / current (below 1.0 is faster) with its interquartile range.

The plain file in a default session (ONNX Runtime; OpenVINO with its own precision choice) is
timed in every group as the peer reference. Weights are random: latency does not depend on
them, and the int8 files are calibrated on Gaussian noise (min/max ranges; the ranges do not
change the graph, only the scale values). Files are cached in ``--work``.

    .venv/bin/python benchmarks/v3_time_profile.py [--models mobilenet_v3_large,mobilenet_v3_small] \\
        [--batches 1,32] [--threads 2] [--rounds 12] [--work /tmp/v3prof] \\
        [--out benchmarks/results/v3_time_profile.md]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import statistics
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from rich.console import Console

import mobilenets.export.quantize as quantize_module
from mobilenets import create_model
from mobilenets.export.onnx_export import export_onnx, export_onnx_plain, quiet_export
from mobilenets.export.quantize import quantize_onnx
from mobilenets.export.runtimes import openvino_core

console = Console(width=160)
# Every ORT session timed here stops its workers spinning when run() returns. Otherwise, with
# a dozen sessions in one process on 2 cores, the idle workers of the session timed just before
# keep spinning for tens of milliseconds and take a core from the next one (measured: 6 sessions
# interleaved in blocks of 7 calls ran at 2-3x the latency of one session alone). Its own cost
# for a single session is measured separately (spin_experiment).
STOP_SPINNING = True
Call = Callable[[], object]

CONV_OPS = {"Conv", "FusedConv", "QLinearConv", "ConvInteger", "NhwcFusedConv"}
POOL_OPS = {"GlobalAveragePool", "ReduceMean", "QLinearGlobalAveragePool", "AveragePool"}
MUL_OPS = {"Mul", "QLinearMul"}
ADD_OPS = {"Add", "QLinearAdd", "Sum"}
LAYOUT_OPS = {"Transpose", "ReorderInput", "ReorderOutput", "Reorder"}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
HEAD_OPS = {"Gemm", "MatMul", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "QGemm", "QLinearMatMul"}
SHAPE_OPS = {"Shape", "Gather", "Concat", "Slice", "Cast", "ConstantOfShape", "Constant"}
# Kinds in the order a fused runtime layer is named by (its "main" original node decides).
KIND_ORDER = (
    "stem conv",
    "depthwise 3x3",
    "depthwise 5x5",
    "depthwise other",
    "pointwise 1x1",
    "full conv kxk",
    "SE pool",
    "SE 1x1 convs",
    "SE gate",
    "SE mul",
    "head (pool, 1x1, classifier)",
    "h-swish",
    "residual add",
    "other activation",
    "layout (Transpose/Reorder)",
    "quantize/dequantize",
    "shape ops",
)


# --------------------------------------------------------------------------------------------
# graph helpers
# --------------------------------------------------------------------------------------------


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _weight_index(node: onnx.NodeProto) -> int:
    return 3 if node.op_type == "QLinearConv" else 1


class GraphKinds:
    """Operator kind of every node of an ONNX graph (original, QDQ or ORT-optimized)."""

    def __init__(self, model: onnx.ModelProto) -> None:
        graph = model.graph
        self.nodes = list(graph.node)
        self.by_name = {n.name: n for n in self.nodes if n.name}
        self.by_output = {o: n for n in self.nodes for o in n.output if o}
        self.inits = {i.name: i for i in graph.initializer}
        self.const_outputs = {o for n in self.nodes if n.op_type == "Constant" for o in n.output}
        self.image = graph.input[0].name
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in self.nodes:
            for name in node.input:
                self.consumers[name].append(node)
        self.se_nodes: dict[int, str] = {}  # id(node) -> SE sub-kind
        self.head_nodes: set[int] = set()
        self._find_se()
        self._find_head()
        self.kind = {id(n): self._classify(n) for n in self.nodes}

    # data inputs: produced by a node (not an initializer / Constant)
    def _data_inputs(self, node: onnx.NodeProto) -> list[str]:
        return [i for i in node.input if i and i in self.by_output and i not in self.const_outputs]

    def _is_layout_or_qdq(self, node: onnx.NodeProto) -> bool:
        return node.op_type in LAYOUT_OPS or node.op_type in QDQ_OPS

    def _producer_skipping(self, name: str) -> onnx.NodeProto | None:
        """The producer of ``name``, looking through layout and Q/DQ nodes."""
        node = self.by_output.get(name)
        while node is not None and self._is_layout_or_qdq(node):
            data = self._data_inputs(node)
            if not data:
                return node
            node = self.by_output.get(data[0])
        return node

    def _find_se(self) -> None:
        for mul in self.nodes:
            if mul.op_type not in MUL_OPS:
                continue
            data = self._data_inputs(mul)
            if len(data) != 2:
                continue
            for feature, gate in (data, data[::-1]):
                feature_producer = self._producer_skipping(feature)
                if feature_producer is None:
                    continue
                closure: list[onnx.NodeProto] = []
                stack, seen, pools, escaped = [gate], set(), 0, False
                while stack and not escaped:
                    name = stack.pop()
                    node = self.by_output.get(name)
                    if node is None or id(node) in seen or name in self.const_outputs:
                        continue
                    seen.add(id(node))
                    if node is feature_producer or len(closure) > 24:
                        escaped = True
                        break
                    closure.append(node)
                    if node.op_type in POOL_OPS:
                        pools += 1
                        continue  # the squeeze: do not look beyond it
                    stack.extend(self._data_inputs(node))
                if escaped or pools != 1:
                    continue
                pool = next(n for n in closure if n.op_type in POOL_OPS)
                pool_inputs = self._data_inputs(pool)
                if not pool_inputs or self._producer_skipping(pool_inputs[0]) is not feature_producer:
                    continue  # the squeeze pools another tensor than the one the gate scales
                self.se_nodes[id(mul)] = "SE mul"
                for node in closure:
                    if node.op_type in POOL_OPS:
                        self.se_nodes[id(node)] = "SE pool"
                    elif node.op_type in CONV_OPS or node.op_type in {"Gemm", "MatMul"}:
                        self.se_nodes[id(node)] = "SE 1x1 convs"
                    elif self._is_layout_or_qdq(node):
                        continue
                    else:
                        self.se_nodes[id(node)] = "SE gate"
                break

    def _find_head(self) -> None:
        pools = [n for n in self.nodes if n.op_type in POOL_OPS and id(n) not in self.se_nodes]
        if not pools:
            return
        stack = [pools[-1]]
        while stack:
            node = stack.pop()
            if id(node) in self.head_nodes:
                continue
            self.head_nodes.add(id(node))
            for out in node.output:
                stack.extend(self.consumers.get(out, []))

    def conv_geometry(self, node: onnx.NodeProto) -> tuple[int, tuple[int, ...]]:
        """(group, kernel) of a convolution node."""
        group = int(_attr(node, "group", 1) or 1)  # type: ignore[arg-type]
        kernel = _attr(node, "kernel_shape")
        if not kernel:
            index = _weight_index(node)
            weight = node.input[index] if len(node.input) > index else ""
            if weight in self.inits:
                kernel = list(self.inits[weight].dims[-2:])
            else:  # a weight behind a DequantizeLinear (QDQ files)
                producer = self.by_output.get(weight)
                while producer is not None and producer.op_type in QDQ_OPS:
                    source = producer.input[0]
                    if source in self.inits:
                        kernel = list(self.inits[source].dims[-2:])
                        break
                    producer = self.by_output.get(source)
        return group, tuple(int(k) for k in (kernel or ()))

    def _fed_by_image(self, node: onnx.NodeProto) -> bool:
        name = node.input[0]
        for _ in range(6):
            if name == self.image:
                return True
            producer = self.by_output.get(name)
            if producer is None or not self._is_layout_or_qdq(producer):
                return False
            name = producer.input[0]
        return False

    def _classify(self, node: onnx.NodeProto) -> str:
        op = node.op_type
        if op in LAYOUT_OPS:
            return "layout (Transpose/Reorder)"
        if op in QDQ_OPS:
            return "quantize/dequantize"
        if id(node) in self.se_nodes:
            return self.se_nodes[id(node)]
        if id(node) in self.head_nodes or op in {"Gemm", "MatMul", "QGemm", "QLinearMatMul"}:
            return "head (pool, 1x1, classifier)"
        if op in CONV_OPS:
            group, kernel = self.conv_geometry(node)
            if group > 1:
                if kernel == (3, 3):
                    return "depthwise 3x3"
                if kernel == (5, 5):
                    return "depthwise 5x5"
                return "depthwise other"
            if self._fed_by_image(node):
                return "stem conv"
            if kernel and max(kernel) == 1:
                return "pointwise 1x1"
            return "full conv kxk"
        if op in {"HardSwish"}:
            return "h-swish"
        # hard-swish decompositions: x * HardSigmoid(x), x * Clip(x + 3, 0, 6) / 6
        if (op in {"HardSigmoid", "Clip", "Div", "Add"} or op in MUL_OPS) and self._in_hswish_pattern(node):
            return "h-swish"
        if op in ADD_OPS:
            return "residual add"
        if op in {"Relu", "Clip", "HardSigmoid", "Sigmoid", "QLinearSigmoid", "QLinearLeakyRelu"}:
            return "other activation"
        if op in SHAPE_OPS or op in HEAD_OPS:
            return "shape ops"
        return op

    def _in_hswish_pattern(self, node: onnx.NodeProto) -> bool:
        """True for a node of ``x * f(x)`` where f is HardSigmoid or Clip(x+3)/6 (not SE)."""
        # walk down to the Mul that closes the pattern, at most 3 steps
        current = node
        for _ in range(4):
            if current.op_type in MUL_OPS:
                data = self._data_inputs(current)
                if len(data) == 2:
                    a, b = (self._producer_skipping(d) for d in data)
                    # one side's chain reaches the other side's producer within 3 steps
                    for x, chain in ((a, b), (b, a)):
                        probe = chain
                        for _ in range(3):
                            if probe is None:
                                break
                            if probe is x:
                                return True
                            inputs = self._data_inputs(probe)
                            probe = self._producer_skipping(inputs[0]) if inputs else None
                        if x is None:
                            continue
                        if chain is not None and x.output and x.output[0] in chain.input:
                            return True
            consumers = self.consumers.get(current.output[0], []) if current.output else []
            if len(consumers) != 1:
                break
            current = consumers[0]
        return False

    def kind_of_name(self, name: str) -> str | None:
        for key in (name, name.split("/")[0]):
            node = self.by_name.get(key) or self.by_output.get(key)
            if node is not None:
                return self.kind[id(node)]
        return None

    def kind_of_unnamed(self, op_type: str) -> str | None:
        """The most common kind of the nameless nodes of ``op_type`` (ORT names the nodes it
        creates, e.g. by inlining a function, only at run time: 'HardSigmoid_64')."""
        kinds = [self.kind[id(n)] for n in self.nodes if not n.name and n.op_type == op_type]
        return max(set(kinds), key=kinds.count) if kinds else None


def op_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        counts[key] += 1
    return dict(counts)


def describe_forms(path: Path) -> dict[str, str]:
    """How hard-swish and the SE gate are written in the file at ``path``."""
    model = onnx.load(str(path), load_external_data=False)
    kinds = GraphKinds(model)
    hswish: dict[str, int] = defaultdict(int)
    gate: dict[str, int] = defaultdict(int)
    fused_acts: dict[str, int] = defaultdict(int)
    for node in kinds.nodes:
        kind = kinds.kind[id(node)]
        if kind == "h-swish":
            hswish[node.op_type] += 1
        elif kind == "SE gate":
            gate[node.op_type] += 1
        if node.op_type in {"FusedConv", "NhwcFusedConv"} or (
            node.op_type == "Conv" and _attr(node, "activation")
        ):
            act = _attr(node, "activation")
            fused_acts[act.decode() if isinstance(act, bytes) else str(act)] += 1
    fmt = lambda d: ", ".join(f"{k} x{v}" for k, v in sorted(d.items())) or "none"  # noqa: E731
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return {
        "h-swish ops": fmt(hswish),
        "SE gate ops": fmt(gate),
        "conv-fused activations": fmt(fused_acts),
        "input batch dim": batch_dim.dim_param or str(batch_dim.dim_value),
        "nodes": str(len(kinds.nodes)),
    }


# --------------------------------------------------------------------------------------------
# graph edits (candidate graph forms)
# --------------------------------------------------------------------------------------------


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def make_static(src: Path, dst: Path, batch: int) -> Path:
    """``src`` with its batch axis fixed to ``batch`` (input, output, value_info cleared)."""
    model = onnx.load(str(src))
    for value in list(model.graph.input) + list(model.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_value = batch
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model)
    return _save(model, dst)


def rewrite_hswish(src: Path, dst: Path, form: str) -> Path:
    """Replace every HardSwish node by ``x * HardSigmoid(x)`` (form 'hsig') or
    ``x * Clip(x + 3, 0, 6) * (1/6)`` (form 'clip')."""
    model = onnx.load(str(src))
    graph = model.graph
    consts = {
        "c_three": np.array(3.0, np.float32),
        "c_zero": np.array(0.0, np.float32),
        "c_six": np.array(6.0, np.float32),
        "c_sixth": np.array(1.0 / 6.0, np.float32),
    }
    if form == "clip":
        graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    new_nodes = []
    for index, node in enumerate(graph.node):
        if node.op_type != "HardSwish":
            new_nodes.append(node)
            continue
        x, y = node.input[0], node.output[0]
        tag = f"hs{index}"
        if form == "hsig":
            new_nodes += [
                helper.make_node("HardSigmoid", [x], [f"{tag}_g"], name=f"{tag}_hsig", alpha=1 / 6, beta=0.5),
                helper.make_node("Mul", [x, f"{tag}_g"], [y], name=f"{tag}_mul"),
            ]
        else:
            new_nodes += [
                helper.make_node("Add", [x, "c_three"], [f"{tag}_a"], name=f"{tag}_add"),
                helper.make_node("Clip", [f"{tag}_a", "c_zero", "c_six"], [f"{tag}_c"], name=f"{tag}_clip"),
                helper.make_node("Mul", [x, f"{tag}_c"], [f"{tag}_m"], name=f"{tag}_mul"),
                helper.make_node("Mul", [f"{tag}_m", "c_sixth"], [y], name=f"{tag}_scale"),
            ]
    del graph.node[:]
    graph.node.extend(new_nodes)
    return _save(model, dst)


def reducemean_to_gap(src: Path, dst: Path) -> Path:
    """Replace ``ReduceMean(axes=[2, 3], keepdims=1)`` (what the exporter makes of
    ``x.mean((2, 3), keepdim=True)``) by ``GlobalAveragePool``, which ORT's NCHWc layout pass
    and its int8 QDQ fusions support."""
    model = onnx.load(str(src))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    changed = 0
    for node in model.graph.node:
        if node.op_type != "ReduceMean" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        axes = sorted(int(a) % 4 for a in np.atleast_1d(inits[node.input[1]]))
        if axes != [2, 3] or int(_attr(node, "keepdims", 1)) != 1:  # type: ignore[arg-type]
            continue
        node.CopyFrom(
            helper.make_node("GlobalAveragePool", [node.input[0]], list(node.output), name=node.name)
        )
        changed += 1
    if not changed:
        raise RuntimeError("no ReduceMean over (2, 3) with keepdims found")
    return _save(model, dst)


@contextlib.contextmanager
def no_preprocess_optimization() -> Iterator[None]:
    """Make ``quantize_onnx``'s ``quant_pre_process`` skip ORT's optimization pass, which
    inlines the HardSwish function into HardSigmoid + Mul (ORT has no HardSwish kernel)."""
    import onnxruntime.quantization.shape_inference as shape_inference

    original = shape_inference.quant_pre_process

    def patched(*args: object, **kwargs: object) -> object:
        kwargs["skip_optimization"] = True
        return original(*args, **kwargs)  # type: ignore[arg-type]

    shape_inference.quant_pre_process = patched  # type: ignore[assignment]
    try:
        yield
    finally:
        shape_inference.quant_pre_process = original  # type: ignore[assignment]


def unfold_se_gate(src: Path, dst: Path) -> Path:
    """Undo ``fold_gate_affine``: the SE expand conv gets W*6, b*6-3 and the Clip(0, 1) gate
    becomes HardSigmoid(alpha=1/6, beta=1/2), the form the plain export has."""
    model = onnx.load(str(src))
    kinds = GraphKinds(model)
    inits = {i.name: i for i in model.graph.initializer}
    changed = 0
    for node in kinds.nodes:
        if kinds.kind[id(node)] != "SE gate" or node.op_type != "Clip":
            continue
        conv = kinds.by_output.get(node.input[0])
        if conv is None or conv.op_type != "Conv" or len(conv.input) < 3:
            continue
        for name, fn in ((conv.input[1], lambda w: w * 6), (conv.input[2], lambda b: b * 6 - 3)):
            array = numpy_helper.to_array(inits[name]).astype(np.float64)
            inits[name].CopyFrom(numpy_helper.from_array(fn(array).astype(np.float32), name))
        replacement = helper.make_node(
            "HardSigmoid", [node.input[0]], list(node.output), name=node.name + "_hsig", alpha=1 / 6, beta=0.5
        )
        node.CopyFrom(replacement)
        changed += 1
    if not changed:
        raise RuntimeError("no folded SE gate (Conv -> Clip) found")
    return _save(model, dst)


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def calibration(samples: int = 16) -> np.ndarray:
    generator = torch.Generator().manual_seed(0)
    return torch.randn((samples, 3, 224, 224), generator=generator).numpy()


@contextlib.contextmanager
def extra_float_nodes(select: Callable[[Path], list[str]]) -> Iterator[None]:
    """Make ``quantize_onnx`` keep ``select(prepared_path)`` nodes in float as well."""
    original = quantize_module.first_and_last_layers
    quantize_module.first_and_last_layers = lambda path: original(path) + select(path)  # type: ignore[assignment]
    try:
        yield
    finally:
        quantize_module.first_and_last_layers = original  # type: ignore[assignment]


def _select_kind(*kinds: str) -> Callable[[Path], list[str]]:
    def select(path: Path) -> list[str]:
        graph_kinds = GraphKinds(onnx.load(str(path)))
        return [n.name for n in graph_kinds.nodes if graph_kinds.kind[id(n)] in kinds and n.name]

    return select


@dataclass
class Files:
    folder: Path
    model_name: str
    paths: dict[str, Path] = field(default_factory=dict)

    def get(self, key: str, make: Callable[[Path], object]) -> Path:
        path = self.folder / f"{key}.onnx"
        if not path.exists():
            started = time.perf_counter()
            try:
                make(path)
            except RuntimeError as error:  # a form this model does not have (no SE in V1/V2)
                console.log(f"{self.model_name}: no {path.name}: {error}")
                return path
            console.log(f"{self.model_name}: made {path.name} in {time.perf_counter() - started:.1f} s")
        self.paths[key] = path
        return path


def build_files(model_name: str, batches: list[int], work: Path) -> Files:
    folder = work / model_name
    folder.mkdir(parents=True, exist_ok=True)
    files = Files(folder, model_name)
    torch.manual_seed(0)
    model = create_model(model_name).eval()
    calib = calibration()
    ours = files.get("ours", lambda p: export_onnx(model, p))

    def plain(batch: int) -> Callable[[Path], object]:
        def make(path: Path) -> None:
            if batch == 1:
                export_onnx_plain(model, path, tuple(model.preprocess.input_size))
            else:  # what a user exporting for batch 32 writes
                with quiet_export():
                    torch.onnx.export(model.eval(), (torch.randn(batch, 3, 224, 224),), str(path))

        return make

    for batch in batches:
        files.get(f"plain_b{batch}", plain(batch))
        files.get(f"ours_static_b{batch}", lambda p, b=batch: make_static(ours, p, b))
    files.get("ours_hswish_hsig", lambda p: rewrite_hswish(ours, p, "hsig"))
    files.get("ours_hswish_clip", lambda p: rewrite_hswish(ours, p, "clip"))
    files.get("ours_se_unfolded", lambda p: unfold_se_gate(ours, p))
    gap = files.get("ours_gap", lambda p: reducemean_to_gap(ours, p))
    for batch in batches:
        files.get(f"ours_gap_static_b{batch}", lambda p, b=batch: make_static(gap, p, b))
    q = lambda path, **kw: quantize_onnx(ours, path, calib, calibration_method="minmax", **kw)  # noqa: E731
    int8 = files.get("int8", lambda p: q(p))
    for batch in batches:
        files.get(f"int8_static_b{batch}", lambda p, b=batch: make_static(int8, p, b))
    files.get("int8_per_tensor", lambda p: q(p, per_channel=False))
    files.get("int8_symmetric_act", lambda p: q(p, symmetric_activations=True))

    def keep(*kinds: str) -> Callable[[Path], object]:
        def make(path: Path) -> None:
            with extra_float_nodes(_select_kind(*kinds)):
                q(path)

        return make

    def keep_hswish(source: Path) -> Callable[[Path], object]:
        def make(path: Path) -> None:
            with no_preprocess_optimization():
                quantize_onnx(source, path, calib, calibration_method="minmax")

        return make

    files.get("int8_hswish_kept", keep_hswish(ours))
    files.get("int8_gap", lambda p: quantize_onnx(gap, p, calib, calibration_method="minmax"))
    files.get("int8_gap_hswish_kept", keep_hswish(gap))
    files.get("int8_se_float", keep("SE pool", "SE 1x1 convs", "SE gate", "SE mul"))
    files.get("int8_dw_float", keep("depthwise 3x3", "depthwise 5x5", "depthwise other"))
    files.get(
        "int8_se_dw_float",
        keep("SE pool", "SE 1x1 convs", "SE gate", "SE mul", "depthwise 3x3", "depthwise 5x5"),
    )
    return files


# --------------------------------------------------------------------------------------------
# sessions
# --------------------------------------------------------------------------------------------


def ort_session(path: Path, threads: int, **kw: object) -> object:
    """A session configured like ``runtimes.onnxruntime_runner`` unless ``kw`` says otherwise.

    kw: level (GraphOptimizationLevel name), config (session config entries), parallel (bool),
    free_batch (int: add_free_dimension_override_by_name('batch', n)), default (plain
    default session: only intra_op_num_threads set), profile (prefix), save (optimized path).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(kw.get("intra", threads))  # type: ignore[arg-type]
    if not kw.get("default"):
        options.inter_op_num_threads = int(kw.get("inter", 1))  # type: ignore[arg-type]
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, str(kw.get("level", "ORT_ENABLE_ALL"))
        )
    if kw.get("parallel"):
        options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    config = {"session.force_spinning_stop": 1} if STOP_SPINNING else {}
    config.update(dict(kw.get("config", {})))  # type: ignore[call-overload]
    for key, value in config.items():
        options.add_session_config_entry(key, str(value))
    if kw.get("free_batch"):
        options.add_free_dimension_override_by_name("batch", int(kw["free_batch"]))  # type: ignore[arg-type]
    if kw.get("profile"):
        options.enable_profiling = True
        options.profile_file_prefix = str(kw["profile"])
    if kw.get("save"):
        options.optimized_model_filepath = str(kw["save"])
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_call(path: Path, inputs: np.ndarray, threads: int, **kw: object) -> Call:
    session = ort_session(path, threads, **kw)
    feed = {session.get_inputs()[0].name: inputs}  # type: ignore[attr-defined]
    return lambda: session.run(None, feed)  # type: ignore[attr-defined]


def ort_split_call(path: Path, inputs: np.ndarray, threads: int) -> Call:
    """Batch split over ``threads`` one-thread sessions run concurrently (data parallel)."""
    sessions = [ort_session(path, 1) for _ in range(threads)]
    chunks = np.array_split(inputs, threads)
    feeds = [{s.get_inputs()[0].name: np.ascontiguousarray(c)} for s, c in zip(sessions, chunks, strict=True)]  # type: ignore[attr-defined]

    def run() -> object:
        workers = [
            threading.Thread(target=s.run, args=(None, f))
            for s, f in zip(sessions[1:], feeds[1:], strict=True)
        ]  # type: ignore[attr-defined]
        for w in workers:
            w.start()
        sessions[0].run(None, feeds[0])  # type: ignore[attr-defined]
        for w in workers:
            w.join()
        return None

    return run


def ov_compiled(
    path: Path,
    threads: int,
    config: dict[str, object] | None = None,
    *,
    static: int | None = None,
    default: bool = False,
) -> tuple[object, object]:
    """(compiled model, its ov.Model). Our config is ``runtimes.openvino_runner``'s unless
    ``default`` (the plain peer: threads only, OpenVINO picks the precision)."""
    import openvino as ov

    core = openvino_core()
    model = core.read_model(str(path))
    if static is not None:
        model.reshape({model.inputs[0].get_any_name(): ov.PartialShape([static, 3, 224, 224])})
    base: dict[str, object] = {"INFERENCE_NUM_THREADS": threads}
    if not default:
        base.update({"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"})
    base.update(config or {})
    return core.compile_model(model, "CPU", base), model


def ov_call(
    path: Path, inputs: np.ndarray, threads: int, config: dict[str, object] | None = None, **kw: object
) -> Call:
    compiled, _ = ov_compiled(path, threads, config, **kw)  # type: ignore[arg-type]
    request = compiled.create_infer_request()  # type: ignore[attr-defined]
    return lambda: request.infer({0: inputs})


def ov_split_call(path: Path, inputs: np.ndarray, threads: int, static: bool) -> Call:
    """THROUGHPUT hint (one stream per core) with the batch split over async requests."""
    import openvino as ov

    parts = threads
    chunks = [np.ascontiguousarray(c) for c in np.array_split(inputs, parts)]
    compiled, _ = ov_compiled(
        path,
        threads,
        {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": parts},
        static=len(chunks[0]) if static else None,
    )
    queue = ov.AsyncInferQueue(compiled, parts)  # type: ignore[arg-type]

    def run() -> object:
        for chunk in chunks:
            queue.start_async({0: chunk})
        queue.wait_all()
        return None

    return run


# --------------------------------------------------------------------------------------------
# profiling
# --------------------------------------------------------------------------------------------


@dataclass
class Breakdown:
    total_ms: float  # sum of per-node medians
    wall_ms: float  # median run latency while profiling
    kinds: dict[str, tuple[float, int]]  # kind -> (ms, nodes)
    flags: list[str] = field(default_factory=list)
    forms: dict[str, str] = field(default_factory=dict)


def profile_ort(path: Path, inputs: np.ndarray, threads: int, runs: int, scratch: Path) -> Breakdown:
    optimized = scratch / f"{path.stem}_ortopt_b{len(inputs)}.onnx"
    session = ort_session(path, threads, profile=scratch / f"{path.stem}_b{len(inputs)}", save=optimized)
    feed = {session.get_inputs()[0].name: inputs}  # type: ignore[attr-defined]
    warm = 3
    walls = []
    for _ in range(warm + runs):
        start = time.perf_counter()
        session.run(None, feed)  # type: ignore[attr-defined]
        walls.append(time.perf_counter() - start)
    trace = Path(session.end_profiling())  # type: ignore[attr-defined]
    events = json.loads(trace.read_text())
    trace.unlink()
    per_node: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            name = event["name"][: -len("_kernel_time")]
            per_node[name].append((event["ts"], event["dur"], event.get("args", {}).get("op_name", "?")))
    kinds_graph = GraphKinds(onnx.load(str(optimized)))
    kinds: dict[str, list[float]] = defaultdict(list)
    unknown = 0
    for name, samples in per_node.items():
        samples.sort()
        durations = [d for _, d, _ in samples[warm:]] or [d for _, d, _ in samples]
        kind = kinds_graph.kind_of_name(name)
        if kind is None:
            kind = kinds_graph.kind_of_unnamed(samples[0][2])
        if kind is None:
            unknown += 1
            kind = f"? {samples[0][2]}"
        kinds[kind].append(statistics.median(durations) / 1000)
    result = Breakdown(
        total_ms=sum(sum(v) for v in kinds.values()),
        wall_ms=statistics.median(walls[warm:]) * 1000,
        kinds={k: (sum(v), len(v)) for k, v in kinds.items()},
        forms=describe_forms(optimized),
    )
    layout = kinds.get("layout (Transpose/Reorder)", [])
    if layout:
        ops = defaultdict(int)
        for node in kinds_graph.nodes:
            if node.op_type in LAYOUT_OPS:
                ops[node.op_type] += 1
        result.flags.append(
            "ORT inserted layout nodes: "
            + ", ".join(f"{k} x{v}" for k, v in ops.items())
            + f" = {sum(layout):.3f} ms"
        )
    if unknown:
        result.flags.append(f"{unknown} profiled nodes not found in the saved optimized graph")
    return result


def _rt(value: object) -> str:
    try:
        return str(value.astype(str))  # type: ignore[attr-defined]
    except Exception:
        return str(value)


def profile_ov(path: Path, inputs: np.ndarray, threads: int, runs: int, static: bool = False) -> Breakdown:
    compiled, _ = ov_compiled(path, threads, {"PERF_COUNT": True}, static=len(inputs) if static else None)
    request = compiled.create_infer_request()  # type: ignore[attr-defined]
    runtime = compiled.get_runtime_model()  # type: ignore[attr-defined]
    originals: dict[str, list[str]] = {}
    layer_types: dict[str, str] = {}
    for op in runtime.get_ordered_ops():
        info = op.get_rt_info()
        name = op.get_friendly_name()
        originals[name] = (
            [s for s in _rt(info["originalLayersNames"]).split(",") if s]
            if "originalLayersNames" in info
            else []
        )
        layer_types[name] = _rt(info["layerType"]) if "layerType" in info else op.get_type_name()
    graph = GraphKinds(onnx.load(str(path)))
    times: dict[str, list[float]] = defaultdict(list)
    meta: dict[str, tuple[str, str]] = {}
    walls = []
    warm = 3
    for index in range(warm + runs):
        start = time.perf_counter()
        request.infer({0: inputs})
        walls.append(time.perf_counter() - start)
        if index < warm:
            continue
        for info in request.get_profiling_info():
            if str(info.status).endswith("EXECUTED") and not str(info.status).endswith("NOT_EXECUTED"):
                times[info.node_name].append(info.real_time.total_seconds() * 1000)
                meta[info.node_name] = (info.node_type, info.exec_type)
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    kinds: dict[str, list[float]] = defaultdict(list)
    ref, reorders = [], []
    for name, samples in times.items():
        ms = statistics.median(samples)
        node_type, exec_type = meta[name]
        if ms == 0 and node_type in {"Parameter", "Result", "Constant", "Input", "Output"}:
            continue
        if node_type in {"Reorder", "Transpose"}:
            kind = "layout (Transpose/Reorder)"
            reorders.append((name, ms, exec_type))
        else:
            candidates = [graph.kind_of_name(o) for o in originals.get(name, [name])]
            candidates = [c for c in candidates if c]
            candidates.sort(key=lambda c: order.get(c, len(order)))
            kind = candidates[0] if candidates else f"other: {node_type}"
        if "ref" in exec_type.lower() and ms > 0:
            ref.append((name, node_type, exec_type, ms))
        kinds[kind].append(ms)
    result = Breakdown(
        total_ms=sum(sum(v) for v in kinds.values()),
        wall_ms=statistics.median(walls[warm:]) * 1000,
        kinds={k: (sum(v), len(v)) for k, v in kinds.items()},
    )
    exec_types: dict[str, int] = defaultdict(int)
    for node_type, exec_type in meta.values():
        if node_type in {"Convolution", "GroupConvolution", "FullyConnected"}:
            exec_types[f"{node_type} {exec_type}"] += 1
    result.forms["conv/FC exec types"] = ", ".join(f"{k} x{v}" for k, v in sorted(exec_types.items()))
    if ref:
        total = sum(r[3] for r in ref)
        listed = "; ".join(
            f"{n} ({t}, {e}, {ms:.3f} ms)" for n, t, e, ms in sorted(ref, key=lambda r: -r[3])[:6]
        )
        result.flags.append(f"'ref' kernels: {len(ref)} layers, {total:.3f} ms: {listed}")
    else:
        result.flags.append("no 'ref' kernels")
    if reorders:
        total = sum(r[1] for r in reorders)
        result.flags.append(f"Reorder/Transpose layers: {len(reorders)}, {total:.3f} ms")
    else:
        result.flags.append("no Reorder/Transpose layers")
    return result


# --------------------------------------------------------------------------------------------
# interleaved timing
# --------------------------------------------------------------------------------------------


@dataclass
class Candidate:
    label: str
    make: Callable[[], Call]
    base: str | None = None  # also compared with this candidate (e.g. a static-shape baseline)
    reference: bool = False  # a peer or the other precision, not an option of ours
    b1_only: bool = False  # clear at batch 1 or a no-op on this CPU: skipped at batch 32 to save time


def cpu_ticks() -> tuple[int, int]:
    """(busy ticks of the whole machine, ticks this process used), from /proc."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(values) - values[3] - values[4]
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return busy, int(fields[11]) + int(fields[12])


def others_busy(seconds: float = 1.0) -> float:
    """Share of the machine's CPU time that other processes used over ``seconds``."""
    values0 = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy0, own0 = cpu_ticks()
    time.sleep(seconds)
    values1 = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy1, own1 = cpu_ticks()
    total = sum(values1) - sum(values0)
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / max(total, 1)


def wait_until_quiet(limit_s: float = 240.0) -> float:
    """Wait (up to ``limit_s``) until other processes use under 10% of the CPU; return their share."""
    deadline = time.monotonic() + limit_s
    share = others_busy()
    while share > 0.10 and time.monotonic() < deadline:
        console.log(f"other processes use {100 * share:.0f}% of the CPU; waiting")
        time.sleep(5)
        share = others_busy()
    return share


def time_group(
    candidates: list[Candidate], rounds: int, block_s: float, wake: bool, seed: int = 0, warmup: int = 2
) -> tuple[dict[str, list[float]], float]:
    """Per candidate label: the median latency (ms) of its calls in each round; and the share of
    CPU other processes used meanwhile.

    Every round runs all candidates in a fresh random order, each for at least ``block_s``
    seconds (at least 2 calls); ``wake`` adds one untimed call before the timed ones.
    """
    prepared: list[tuple[str, Call]] = []
    every_cpu = os.sched_getaffinity(0)
    for candidate in candidates:
        try:
            call = candidate.make()
            for _ in range(warmup):
                call()
            prepared.append((candidate.label, call))
        except Exception as error:
            console.log(f"[red]{candidate.label}: {type(error).__name__}: {str(error)[:300]}")
        if os.sched_getaffinity(0) != every_cpu:
            os.sched_setaffinity(0, every_cpu)
    rng = random.Random(seed)
    per_round: dict[str, list[float]] = defaultdict(list)
    values0 = sum(int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:])
    busy0, own0 = cpu_ticks()
    for _ in range(rounds):
        order = prepared[:]
        rng.shuffle(order)
        for label, call in order:
            if wake:
                call()
            samples: list[float] = []
            end = time.perf_counter() + block_s
            while len(samples) < 2 or time.perf_counter() < end:
                start = time.perf_counter()
                call()
                samples.append(time.perf_counter() - start)
            per_round[label].append(statistics.median(samples) * 1000)
            if os.sched_getaffinity(0) != every_cpu:  # a runtime pinned the calling thread
                os.sched_setaffinity(0, every_cpu)
    values1 = sum(int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:])
    busy1, own1 = cpu_ticks()
    others = max(0.0, (busy1 - busy0) - (own1 - own0)) / max(values1 - values0, 1)
    return per_round, others


def spin_experiment(files: Files, threads: int, rounds: int) -> list[str]:
    """ORT's spinning options for one session alone: blocks of 0.3 s separated by 0.2 s of sleep,
    so no other session's threads run meanwhile; fp32 file at batch 1."""
    x = np.ascontiguousarray(torch.randn(1, 3, 224, 224).numpy())
    ours = files.paths["ours"]
    global STOP_SPINNING
    STOP_SPINNING = False
    try:
        variants = {
            "ORT default (spin after run)": ort_call(ours, x, threads),
            "session.force_spinning_stop=1": ort_call(
                ours, x, threads, config={"session.force_spinning_stop": 1}
            ),
            "session.intra_op.allow_spinning=0": ort_call(
                ours, x, threads, config={"session.intra_op.allow_spinning": 0}
            ),
        }
    finally:
        STOP_SPINNING = True
    for call in variants.values():
        call()
    per_round: dict[str, list[float]] = defaultdict(list)
    rng = random.Random(0)
    for _ in range(rounds):
        order = list(variants.items())
        rng.shuffle(order)
        for label, call in order:
            time.sleep(0.2)
            samples = []
            end = time.perf_counter() + 0.3
            while time.perf_counter() < end:
                start = time.perf_counter()
                call()
                samples.append(time.perf_counter() - start)
            per_round[label].append(statistics.median(samples) * 1000)
    base = "ORT default (spin after run)"
    rows = []
    for label in variants:
        med, lo, hi = ratio_stats(per_round, label, base)
        rows.append(
            f"| {files.model_name} | {label} | {statistics.median(per_round[label]):.3f} | "
            f"{med:.3f} [{lo:.3f}, {hi:.3f}] |"
        )
    return rows


def ratio_stats(per_round: dict[str, list[float]], label: str, base: str) -> tuple[float, float, float]:
    """Median and quartiles over rounds of (label / base) measured in the same round."""
    ratios = [c / b for c, b in zip(per_round[label], per_round[base], strict=True)]
    q = np.percentile(ratios, [25, 50, 75])
    return float(q[1]), float(q[0]), float(q[2])


CONTROL = "control: the current path again (a second session / compile)"


def groups_for(files: Files, batch: int, threads: int, avx512: bool) -> dict[str, list[Candidate]]:
    """The timing groups of one model and batch; the first candidate of each is our current path,
    the second a duplicate of it, whose ratio shows the noise and any bias of the set-up."""
    generator = torch.Generator().manual_seed(1)
    x = np.ascontiguousarray(torch.randn(batch, 3, 224, 224, generator=generator).numpy())
    p = files.paths
    plain, ours, int8 = p[f"plain_b{batch}"], p["ours"], p["int8"]
    t = threads
    b = batch
    ort_fp32 = [
        Candidate("current: onnxruntime_runner(export_onnx file)", lambda: ort_call(ours, x, t)),
        Candidate(CONTROL, lambda: ort_call(ours, x, t)),
        Candidate(
            "peer: plain file, default ORT session",
            lambda: ort_call(plain, x, t, default=True),
            reference=True,
        ),
        Candidate(
            "peer: plain file, default OpenVINO", lambda: ov_call(plain, x, t, default=True), reference=True
        ),
        Candidate(
            "ORT_ENABLE_EXTENDED (no NCHWc layout pass)",
            lambda: ort_call(ours, x, t, level="ORT_ENABLE_EXTENDED"),
        ),
        Candidate("ORT_ENABLE_LAYOUT", lambda: ort_call(ours, x, t, level="ORT_ENABLE_LAYOUT"), b1_only=True),
        Candidate(
            "ORT_PARALLEL (inter 2, intra 1)", lambda: ort_call(ours, x, t, parallel=True, inter=2, intra=1)
        ),
        Candidate(
            "allow_spinning=0", lambda: ort_call(ours, x, t, config={"session.intra_op.allow_spinning": 0})
        ),
        Candidate(
            "set_denormal_as_zero=1",
            lambda: ort_call(ours, x, t, config={"session.set_denormal_as_zero": 1}),
            b1_only=True,
        ),
        Candidate(
            "dynamic_block_base=4", lambda: ort_call(ours, x, t, config={"session.dynamic_block_base": 4})
        ),
        Candidate(
            "worker thread pinned (intra_op_thread_affinities)",
            lambda: ort_call(
                ours,
                x,
                t,
                config={"session.intra_op_thread_affinities": ";".join(str(i + 2) for i in range(t - 1))},
            ),
            b1_only=True,
        ),
        Candidate(
            "free dim override batch=B (static at run time)", lambda: ort_call(ours, x, t, free_batch=b)
        ),
        Candidate("static batch in the file", lambda: ort_call(p[f"ours_static_b{b}"], x, t)),
        Candidate("SE pool as GlobalAveragePool (not ReduceMean)", lambda: ort_call(p["ours_gap"], x, t)),
        Candidate(
            "GlobalAveragePool + static batch in the file",
            lambda: ort_call(p[f"ours_gap_static_b{b}"], x, t),
            b1_only=True,
        ),
        Candidate("h-swish as x*HardSigmoid(x)", lambda: ort_call(p["ours_hswish_hsig"], x, t)),
        Candidate(
            "h-swish as x*Clip(x+3,0,6)/6", lambda: ort_call(p["ours_hswish_clip"], x, t), b1_only=True
        ),
        Candidate(
            "SE gate unfolded (HardSigmoid, as plain)",
            lambda: ort_call(p["ours_se_unfolded"], x, t),
            b1_only=True,
        ),
    ]
    if avx512:
        ort_fp32.append(
            Candidate(
                "mlas.nchwc_depthwise_sliding=0",
                lambda: ort_call(ours, x, t, config={"mlas.nchwc_depthwise_sliding": 0}),
            )
        )
    if batch > 1:
        ort_fp32.append(
            Candidate("batch split over 2 one-thread sessions", lambda: ort_split_call(ours, x, t))
        )
    static = "static shape (model.reshape before compile)"
    ov_fp32 = [
        Candidate("current: openvino_runner(export_onnx file)", lambda: ov_call(ours, x, t)),
        Candidate(CONTROL, lambda: ov_call(ours, x, t)),
        Candidate(
            "peer: plain file, default OpenVINO", lambda: ov_call(plain, x, t, default=True), reference=True
        ),
        Candidate(
            "peer: plain file, default ORT session",
            lambda: ort_call(plain, x, t, default=True),
            reference=True,
        ),
        Candidate(static, lambda: ov_call(ours, x, t, static=b)),
        Candidate("static batch in the file", lambda: ov_call(p[f"ours_static_b{b}"], x, t)),
        Candidate(
            "no hints (threads only), dynamic batch", lambda: ov_call(ours, x, t, default=True), b1_only=True
        ),
        Candidate(
            "static + ENABLE_CPU_PINNING=False",
            lambda: ov_call(ours, x, t, {"ENABLE_CPU_PINNING": False}, static=b),
            static,
            b1_only=True,
        ),
        Candidate(
            "static + ENABLE_HYPER_THREADING=False",
            lambda: ov_call(ours, x, t, {"ENABLE_HYPER_THREADING": False}, static=b),
            static,
            b1_only=True,
        ),
        Candidate(
            "static + SCHEDULING_CORE_TYPE=PCORE_ONLY",
            lambda: ov_call(ours, x, t, {"SCHEDULING_CORE_TYPE": "PCORE_ONLY"}, static=b),
            static,
            b1_only=True,
        ),
        Candidate(
            "static + CPU_DENORMALS_OPTIMIZATION=True",
            lambda: ov_call(ours, x, t, {"CPU_DENORMALS_OPTIMIZATION": True}, static=b),
            static,
            b1_only=True,
        ),
        Candidate(
            "static + SE pool as GlobalAveragePool", lambda: ov_call(p["ours_gap"], x, t, static=b), static
        ),
        Candidate(
            "static + h-swish as x*HardSigmoid(x)",
            lambda: ov_call(p["ours_hswish_hsig"], x, t, static=b),
            static,
            b1_only=True,
        ),
        Candidate(
            "static + h-swish as x*Clip(x+3,0,6)/6",
            lambda: ov_call(p["ours_hswish_clip"], x, t, static=b),
            static,
            b1_only=True,
        ),
        Candidate(
            "static + SE gate unfolded (HardSigmoid)",
            lambda: ov_call(p["ours_se_unfolded"], x, t, static=b),
            static,
            b1_only=True,
        ),
    ]
    if batch > 1:
        ov_fp32.append(
            Candidate(
                "static + THROUGHPUT hint, one sync request",
                lambda: ov_call(ours, x, t, {"PERFORMANCE_HINT": "THROUGHPUT"}, static=b),
                static,
            )
        )
        ov_fp32.append(
            Candidate(
                "THROUGHPUT, 2 streams, batch split over 2 async requests (static)",
                lambda: ov_split_call(ours, x, t, static=True),
                static,
            )
        )
    int8_forms = [  # (label, file, batch 1 only)
        ("HardSwish kept whole (pre-process without ORT inlining)", "int8_hswish_kept", False),
        ("SE pool as GlobalAveragePool", "int8_gap", False),
        ("GlobalAveragePool + HardSwish kept", "int8_gap_hswish_kept", False),
        ("per-tensor weights", "int8_per_tensor", False),
        ("int8 (symmetric) activations", "int8_symmetric_act", True),
        ("SE kept in float", "int8_se_float", False),
        ("depthwise kept in float", "int8_dw_float", False),
        ("SE and depthwise kept in float", "int8_se_dw_float", True),
    ]
    ort_int8 = [
        Candidate("current: onnxruntime_runner(int8 QDQ file)", lambda: ort_call(int8, x, t)),
        Candidate(CONTROL, lambda: ort_call(int8, x, t)),
        Candidate("fp32 current (for int8 / fp32)", lambda: ort_call(ours, x, t), reference=True),
        Candidate(
            "ORT_ENABLE_EXTENDED (no NHWC transformer)",
            lambda: ort_call(int8, x, t, level="ORT_ENABLE_EXTENDED"),
        ),
        Candidate("free dim override batch=B", lambda: ort_call(int8, x, t, free_batch=b)),
        Candidate(
            "allow_spinning=0", lambda: ort_call(int8, x, t, config={"session.intra_op.allow_spinning": 0})
        ),
        *[
            Candidate(label, lambda key=key: ort_call(p[key], x, t), b1_only=only)
            for label, key, only in int8_forms
        ],
    ]
    ov_int8 = [
        Candidate("current: openvino_runner(int8 QDQ file)", lambda: ov_call(int8, x, t)),
        Candidate(CONTROL, lambda: ov_call(int8, x, t)),
        Candidate("fp32 current (for int8 / fp32)", lambda: ov_call(ours, x, t), reference=True),
        Candidate(
            "fp32 static shape (for int8 / fp32)", lambda: ov_call(ours, x, t, static=b), reference=True
        ),
        Candidate(static, lambda: ov_call(int8, x, t, static=b)),
        *[
            Candidate(
                "static + " + label, lambda key=key: ov_call(p[key], x, t, static=b), static, b1_only=only
            )
            for label, key, only in int8_forms
        ],
    ]
    if batch > 1:
        ov_int8.append(
            Candidate(
                "THROUGHPUT, 2 streams, batch split (static)",
                lambda: ov_split_call(int8, x, t, static=True),
                static,
            )
        )
    groups = {"ORT fp32": ort_fp32, "OpenVINO fp32": ov_fp32, "ORT int8": ort_int8, "OpenVINO int8": ov_int8}
    if batch > 1:
        groups = {name: [c for c in cands if not c.b1_only] for name, cands in groups.items()}
    return groups


def wait_for_marker(marker: Path | None) -> None:
    if marker is None:
        return
    while not marker.exists():
        console.log(f"waiting for {marker} (another benchmark is running)")
        time.sleep(20)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def cpu_description() -> tuple[str, str]:
    text = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?"
    )
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    wanted = [
        "avx2",
        "fma",
        "avx512f",
        "avx512_vnni",
        "avx_vnni",
        "avx512_bf16",
        "amx_bf16",
        "amx_int8",
        "amx_tile",
    ]
    present = [f for f in wanted if f in flags]
    absent = [f for f in wanted if f not in flags]
    return model, f"has {', '.join(present) or 'none'}; lacks {', '.join(absent) or 'none'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v3_large,mobilenet_v3_small")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=12, help="interleaved rounds per group at batch 1")
    parser.add_argument(
        "--profile-runs", type=int, default=20, help="profiled runs at batch 1 (batch 32: a quarter)"
    )
    parser.add_argument("--work", default="/tmp/v3prof", help="folder for the exported files (cached)")
    parser.add_argument("--wait-for", default=None, help="poll until this file exists before timing")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/v3_time_profile.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    models = args.models.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    cpu, flags = cpu_description()
    avx512 = "has" in flags and "avx512f" in flags.split(";")[0]
    import onnxruntime
    import openvino

    files = {m: build_files(m, batches, work) for m in models}
    wait_for_marker(Path(args.wait_for) if args.wait_for else None)
    started = time.perf_counter()
    load_before = os.getloadavg()
    lines: list[str] = []
    date = subprocess.run(
        ["date", "-u", "+%Y-%m-%d %H:%M UTC"], capture_output=True, text=True
    ).stdout.strip()
    lines += [
        "# Where MobileNetV3's time goes in ONNX Runtime and OpenVINO",
        "",
        f"{date}; CPU `{cpu}` ({os.cpu_count()} logical CPUs; {flags}); {platform.python_version()}, "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, OpenVINO "
        f"{openvino.__version__.split('-')[0]}, onnx {onnx.__version__}. {args.threads} threads, 224 px, "
        f"random weights; int8 = `quantize_onnx` QDQ (per-channel weights, uint8 activations, stem and "
        f"classifier in float), calibrated with min/max on 16 Gaussian-noise images.",
        "",
        "Produced by `benchmarks/v3_time_profile.py`.",
        "",
    ]
    # --- graph forms ---------------------------------------------------------------------
    lines += ["## Which operators the files hold", ""]
    lines += [
        "| model | file | nodes | batch dim | h-swish ops | SE gate ops | conv-fused activations |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in models:
        p = files[m].paths
        scratch = files[m].folder
        for label, path in (
            ("plain export (b1)", p["plain_b1"] if "plain_b1" in p else p[f"plain_b{batches[0]}"]),
            ("ours (export_onnx)", p["ours"]),
            ("ours int8 QDQ", p["int8"]),
        ):
            f = describe_forms(path)
            lines.append(
                f"| {m} | {label} | {f['nodes']} | {f['input batch dim']} | {f['h-swish ops']} | "
                f"{f['SE gate ops']} | {f['conv-fused activations']} |"
            )
        for label, path in (
            ("ours after ORT_ENABLE_ALL", p["ours"]),
            ("plain after ORT_ENABLE_ALL", p[f"plain_b{batches[0]}"]),
            ("int8 after ORT_ENABLE_ALL", p["int8"]),
        ):
            saved = scratch / f"{path.stem}_ortopt_forms.onnx"
            ort_session(path, args.threads, save=saved)
            f = describe_forms(saved)
            lines.append(
                f"| {m} | {label} | {f['nodes']} | {f['input batch dim']} | {f['h-swish ops']} | "
                f"{f['SE gate ops']} | {f['conv-fused activations']} |"
            )
    lines.append("")
    lines += ["Op counts (plain vs ours vs int8), first model:", ""]
    m0 = models[0]
    counts = {k: op_counts(files[m0].paths[k]) for k in (f"plain_b{batches[0]}", "ours", "int8")}
    ops = sorted(set().union(*counts.values()))
    lines += ["| op | " + " | ".join(counts) + " |", "|---" * (len(counts) + 1) + "|"]
    lines += [f"| {op} | " + " | ".join(str(c.get(op, 0)) for c in counts.values()) + " |" for op in ops]
    lines.append("")
    # --- profiles --------------------------------------------------------------------------
    lines += [
        "## Time per operator kind",
        "",
        "ORT: sum of each node's median `_kernel_time` from the session profiler (node names and "
        "attributes from the optimized graph ORT saves). OpenVINO: sum of each executed layer's "
        "median `real_time` from `get_profiling_info()`, each layer named by the most important "
        "ONNX node it fused (a conv with its fused h-swish counts as the conv). The profiler's own "
        "cost inflates small ops; 'wall' is the median run latency while profiling. OpenVINO "
        "profiles the static-shape compile (model reshaped to the batch) unless noted.",
        "",
    ]
    breakdowns: dict[tuple[str, str], dict[int, Breakdown]] = defaultdict(dict)
    for m in models:
        p = files[m].paths
        wait_until_quiet()
        for batch in batches:
            x = np.ascontiguousarray(torch.randn(batch, 3, 224, 224).numpy())
            runs = args.profile_runs if batch == 1 else max(4, args.profile_runs // 4)
            for label, path in (("fp32", p["ours"]), ("int8", p["int8"])):
                console.log(f"profiling {m} b{batch} {label}")
                breakdowns[(m, f"ORT {label}")][batch] = profile_ort(
                    path, x, args.threads, runs, files[m].folder
                )
                breakdowns[(m, f"OpenVINO {label} (dynamic batch, as now)")][batch] = profile_ov(
                    path, x, args.threads, runs
                )
                breakdowns[(m, f"OpenVINO {label} (static shape)")][batch] = profile_ov(
                    path, x, args.threads, runs, static=True
                )
            if "ours_gap" in p:  # after the fixes this report recommends
                fixed = "SE pool as GlobalAveragePool"
                breakdowns[(m, f"ORT fp32, {fixed}")][batch] = profile_ort(
                    p["ours_gap"], x, args.threads, runs, files[m].folder
                )
            if "int8_gap_hswish_kept" in p:
                fixed = "GlobalAveragePool + HardSwish kept"
                path = p["int8_gap_hswish_kept"]
                breakdowns[(m, f"ORT int8, {fixed}")][batch] = profile_ort(
                    path, x, args.threads, runs, files[m].folder
                )
                breakdowns[(m, f"OpenVINO int8 (static shape), {fixed}")][batch] = profile_ov(
                    path, x, args.threads, runs, static=True
                )
    for (m, runtime), by_batch in breakdowns.items():
        lines += [f"### {m}, {runtime}", ""]
        header = "| kind | " + " | ".join(f"b{b} ms | b{b} share | b{b} nodes" for b in by_batch) + " |"
        lines += [header, "|---" * (1 + 3 * len(by_batch)) + "|"]
        all_kinds = sorted(
            {k for bd in by_batch.values() for k in bd.kinds},
            key=lambda k: (
                -max(bd.kinds.get(k, (0, 0))[0] / max(bd.total_ms, 1e-9) for bd in by_batch.values())
            ),
        )
        for kind in all_kinds:
            cells = []
            for bd in by_batch.values():
                ms, n = bd.kinds.get(kind, (0.0, 0))
                cells.append(f"{ms:.3f} | {100 * ms / max(bd.total_ms, 1e-9):.1f}% | {n}")
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
        lines.append(
            "| **sum / wall** | "
            + " | ".join(f"**{bd.total_ms:.3f} / {bd.wall_ms:.3f}** | | " for bd in by_batch.values())
            + " |"
        )
        lines.append("")
        for b, bd in by_batch.items():
            notes = bd.flags + [
                f"{k}: {v}"
                for k, v in bd.forms.items()
                if k in ("conv/FC exec types", "conv-fused activations", "h-swish ops", "SE gate ops")
            ]
            if notes:
                lines.append(f"- b{b}: " + "; ".join(notes))
        lines.append("")
    # --- timing -----------------------------------------------------------------------------
    tried: list[str] = []
    conditions: list[str] = []
    targets: list[str] = []
    spin_rows: list[str] = []
    big_rounds = max(4, args.rounds * 5 // 12)
    if not args.skip_timing:
        for m in models:
            for batch in batches:
                for group, candidates in groups_for(files[m], batch, args.threads, avx512).items():
                    small = batch == 1
                    rounds = args.rounds if small else big_rounds
                    console.log(
                        f"timing {m} b{batch} {group}: {len(candidates)} candidates x {rounds} rounds"
                    )
                    for attempt in range(3):  # again (twice at most) if other processes took CPU meanwhile
                        quiet = wait_until_quiet()
                        per_round, others = time_group(
                            candidates,
                            rounds,
                            block_s=0.05 if small else 0.0,
                            wake=small,
                            seed=batch,
                            warmup=2 if small else 1,
                        )
                        conditions.append(
                            f"{m} b{batch} {group}: others used {100 * quiet:.0f}% of the CPU just "
                            f"before, {100 * others:.0f}% during" + (" (repeated)" if attempt else "")
                        )
                        if others < 0.05:
                            break
                        console.log(
                            f"other processes used {100 * others:.0f}% of the CPU during the group; "
                            "repeating it"
                        )
                    base = candidates[0].label
                    if base not in per_round:
                        continue
                    control = (
                        ratio_stats(per_round, CONTROL, base) if CONTROL in per_round else (1.0, 1.0, 1.0)
                    )
                    band = max(0.03, abs(control[0] - 1))
                    kept = [base]
                    for c in candidates:
                        if c.label not in per_round:
                            tried.append(f"| {m} | {batch} | {group} | {c.label} | failed | – | – | |")
                            continue
                        med, lo, hi = ratio_stats(per_round, c.label, base)
                        ms = statistics.median(per_round[c.label])
                        own = "–"
                        v_med, v_lo, v_hi = med, lo, hi
                        if c.base and c.base in per_round:
                            v_med, v_lo, v_hi = ratio_stats(per_round, c.label, c.base)
                            own = f"{v_med:.3f} [{v_lo:.3f}, {v_hi:.3f}]"
                        if c.label == base:
                            keep = "(current)"
                        elif c.label == CONTROL:
                            keep = "(noise control)"
                        elif c.reference:
                            keep = "(reference)"
                        elif v_hi < 1 - band:
                            keep = "**yes**"
                            kept.append(c.label)
                        elif v_lo > 1 + band:
                            keep = "no (slower)"
                        else:
                            keep = "no (within noise)"
                        tried.append(
                            f"| {m} | {batch} | {group} | {c.label} | {ms:.3f} | "
                            f"{med:.3f} [{lo:.3f}, {hi:.3f}] | {own} | {keep} |"
                        )
                    peers = [
                        c.label for c in candidates if c.label.startswith("peer:") and c.label in per_round
                    ]
                    if peers:
                        best_peer = [min(per_round[q][i] for q in peers) for i in range(len(per_round[base]))]
                        best_kept = min(kept, key=lambda k: statistics.median(per_round[k]))
                        cur = np.median([a / b for a, b in zip(per_round[base], best_peer, strict=True)])
                        top = np.median([a / b for a, b in zip(per_round[best_kept], best_peer, strict=True)])
                        targets.append(
                            f"| {m} | {batch} | {group} | {statistics.median(best_peer):.3f} | "
                            f"{cur:.3f} | {best_kept} | {top:.3f} |"
                        )
        for m in models:
            wait_until_quiet()
            console.log(f"spin experiment {m}")
            spin_rows += spin_experiment(files[m], args.threads, 5)
        lines += [
            "## Against the peers (target: ratio <= 1.0)",
            "",
            "Within each fp32 group: our current path and the fastest of its kept candidates "
            "(keep = yes below) against the faster of the two peers in each round (plain file in a "
            "default ORT session, plain file in OpenVINO's default compile), as the median over "
            "rounds of the per-round ratio.",
            "",
            "| model | batch | group | best peer ms | current / best peer | fastest kept candidate "
            "| its ratio to best peer |",
            "|---|---|---|---|---|---|---|",
            *targets,
            "",
        ]
        lines += [
            "## Tried, against our current path",
            "",
            "Ratio = candidate / current path measured in the same round; median over rounds "
            "[interquartile range]. 'vs static' = candidate / the static-shape candidate of the same "
            "group, for options tried on top of it. "
            f"{args.rounds} rounds at batch 1 (one untimed call, then timed calls for 50 ms), "
            f"{big_rounds} at batch 32 (2 timed calls); order shuffled every round. keep = **yes** when the "
            "upper quartile "
            "of its ratio (to current, or to static where given) is below 1 - d, 'slower' when the lower "
            "quartile is above 1 + d, where d = max(0.03, |noise control median - 1|) and the noise "
            "control is a second, identical instance of the current path.",
            "",
            "| model | batch | group | tried | median ms | ratio to current [IQR] | vs static [IQR] "
            "| keep? |",
            "|---|---|---|---|---|---|---|---|",
            *tried,
            "",
            "Every ORT session above ran with `session.force_spinning_stop=1` (see STOP_SPINNING in the "
            "script: without it, the idle workers of the session timed just before keep a core busy). "
            "What the spinning options cost one session alone (0.3 s blocks after 0.2 s of sleep, "
            "fp32, batch 1; ratio to ORT's default):",
            "",
            "| model | option | median ms | ratio [IQR] |",
            "|---|---|---|---|",
            *spin_rows,
            "",
            "Machine load per group:",
            "",
            *[f"- {c}" for c in conditions],
            "",
        ]
    lines += [
        f"Profiling and timing wall time {time.perf_counter() - started:.0f} s; load average before "
        f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}.",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    console.print("\n".join(lines))


if __name__ == "__main__":
    main()
