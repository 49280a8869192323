"""From float to the phone: folding BN, what int8 changes, and what the bench measured here.

Everything runs on the ``make demo`` model (MobileNetV1 α 0.5 at 32 px, ten digits):
``runs/demo/final.safetensors``, or the file named by ``$GUIDE_DEMO_WEIGHTS``. Without either,
the demo recipe is trained here in a temporary folder first (several minutes on 2 cores; in
``--quick``, 2 epochs only). The int8 file is the one the bench writes with the package's
``write_export``, which is what ``mobilenets export --int8 --calib digits`` runs too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from compute.common import Output, count, markdown_table, percent, ratio
from mobilenets import create_model
from mobilenets.bench.recommend import recommend
from mobilenets.bench.timing import BenchReport, BenchResult, run_bench
from mobilenets.cost.profiler import profile
from mobilenets.export.bias_correction import INT8_MAX
from mobilenets.export.calibration import digits_sets
from mobilenets.export.fold import count_batchnorms, fold_for_inference, folding_error
from mobilenets.models.mobilenet import MobileNet

PAGE = "deployment"
# Exact: what folding removes (a property of the architecture). Everything read off trained
# weights, calibrated ranges or a clock is measured.
MEASURED: frozenset[str] = frozenset(
    {
        "fold_max_diff",
        "fold_relative_diff",
        "logit_scale",
        "scale_min",
        "scale_max",
        "scale_spread",
        "tensor_scale",
        "small_channel",
        "small_steps_tensor",
        "error_channel",
        "error_tensor",
        "error_layers_better",
        "input_scale",
        "input_zero_point",
        "input_range",
        "output_scale",
        "output_zero_point",
        "output_range",
        "agreement",
        "disagreements",
        "float_accuracy",
        "int8_accuracy",
        "bench_table",
        "bench_date",
        "bench_threads",
        "recommendation",
        "int8_ratio",
        "int8_word",
        "int8_word_zh",
        "peer_ratio",
        "eager_ms",
        "onnxruntime_ms",
        "spread",
        "peak_us",
        "eager_peak",
        "onnxruntime_peak",
    }
)
KEY_NUMBERS = ("params_before", "params_after")  # the browser test finds these in both languages

WEIGHTS_VARIABLE = "GUIDE_DEMO_WEIGHTS"
REPO = Path(__file__).resolve().parents[3]
DEMO_WEIGHTS = REPO / "runs" / "demo" / "final.safetensors"
LAYER = "blocks.0.dw.conv"  # the first depthwise layer: few enough channels to draw one bar each
QUICK_BACKENDS = ("eager", "plain-onnxruntime", "onnxruntime", "onnxruntime-int8")
# The phone's runtime (ExecuTorch, XNNPACK) in both precisions, beside ONNX Runtime and the peers'
# defaults. OpenVINO and torch.compile are left out to keep the page's run short.
FULL_BACKENDS = (*QUICK_BACKENDS, "channels_last", "executorch", "executorch-int8")
CALIB_SAMPLES = 256  # training digits that calibrate the int8 ranges, as `mobilenets export` does by default
# One thread: on a shared 2-core machine, PyTorch's second thread waited for a busy core at every
# layer (eager took 15-30x longer with 2 threads than with 1 while other jobs ran).
THREADS = 1
PRECISION_COLORS = {"fp32": "tab:blue", "int8": "tab:orange"}


def demo_weights(quick: bool, scratch: Path) -> Path:
    """The ``make demo`` weights; trained here (the same recipe) when no run folder holds them."""
    given = os.environ.get(WEIGHTS_VARIABLE)
    if given:
        if not Path(given).is_file():
            raise FileNotFoundError(f"${WEIGHTS_VARIABLE}={given}: no such file")
        return Path(given)
    if DEMO_WEIGHTS.is_file():
        return DEMO_WEIGHTS
    from mobilenets.demo import DEMO_RECIPE
    from mobilenets.train.config import TrainConfig
    from mobilenets.train.loop import fit

    epochs = 2 if quick else int(DEMO_RECIPE["epochs"])
    print(
        f"deployment: no {DEMO_WEIGHTS}; training the demo recipe for {epochs} epochs "
        "(`make demo` first avoids this)"
    )
    config = TrainConfig(**{**DEMO_RECIPE, "epochs": epochs, "out": str(scratch / "demo"), "progress": False})
    return fit(config).final_weights


def batchnorm_mult_adds(model: nn.Module, input_size: tuple[int, ...]) -> int:
    """Multiply-adds the eval-mode BatchNorms do per image: ``x * s + t``, one per output element."""
    elements = 0

    def hook(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal elements
        elements += output[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.inference_mode():
        model.eval()(torch.zeros(1, *input_size))
    for handle in handles:
        handle.remove()
    return elements


def fold_section(model: MobileNet, held_out: np.ndarray) -> dict[str, str]:
    """What folding removes (exact) and the largest logit change it causes on the held-out digits."""
    folded = fold_for_inference(model)
    input_size = tuple(model.preprocess.input_size)
    before, after = profile(model, input_size), profile(folded, input_size)
    convs = [sum(isinstance(m, nn.Conv2d) for m in net.modules()) for net in (model, folded)]
    params = [sum(p.numel() for p in net.parameters()) for net in (model, folded)]
    buffers = [sum(b.numel() for b in net.buffers()) for net in (model, folded)]
    ops = batchnorm_mult_adds(model, input_size)
    inputs = torch.from_numpy(held_out)
    max_diff = folding_error(model, folded, inputs)
    with torch.inference_mode():
        scale = float(model(inputs).abs().max())
    values = [
        (str(count_batchnorms(model)), str(count_batchnorms(folded))),
        (str(convs[0]), str(convs[1])),
        (count(params[0]), count(params[1])),
        (count(buffers[0]), count(buffers[1])),
        (count(ops), "0"),
        (count(before.total_mult_adds), count(after.total_mult_adds)),
    ]
    labels = {
        "en": [
            "BatchNorm layers",
            "convolutions (all with a bias after folding)",
            "parameters",
            "buffers (running mean and variance, step count)",
            "BatchNorm multiply-adds per image",
            "Mult-Adds per image (conv + linear, the papers' count)",
        ],
        "zh": [
            "BN 层",
            "卷积（折叠后都带偏置）",
            "参数",
            "缓冲区（滑动均值和方差、步数）",
            "每张图的 BN 乘加",
            "每张图的乘加（卷积 + 全连接，论文口径）",
        ],
    }
    headers = {"en": ["", "trained model", "folded"], "zh": ["", "训练好的模型", "折叠后"]}
    tables = {
        language: markdown_table(
            headers[language], [[label, *pair] for label, pair in zip(names, values, strict=True)]
        )
        for language, names in labels.items()
    }
    return {
        "fold_table": tables["en"],
        "fold_table_zh": tables["zh"],
        "batchnorms": str(count_batchnorms(model)),
        "convs": str(convs[0]),
        "params_before": count(params[0]),
        "params_after": count(params[1]),
        "params_removed": count(params[0] - params[1]),
        "buffers_removed": count(buffers[0] - buffers[1]),
        "bn_mult_adds": count(ops),
        "mult_adds": count(before.total_mult_adds),
        "bn_share": percent(ops / before.total_mult_adds, 1),
        "fold_max_diff": f"{max_diff:.1e}",
        "logit_scale": f"{scale:.1f}",
        "fold_relative_diff": f"{max_diff / scale:.0e}",
        "held_out": str(len(held_out)),
    }


def _initializers(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    return {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}


def _activation_qdq(graph: onnx.GraphProto, tensor: str, downstream: bool) -> tuple[str, str]:
    """The scale and zero-point names of the QuantizeLinear that quantizes ``tensor``.

    ``downstream``: follow ``tensor``'s consumers (through an activation) to the QuantizeLinear;
    else ``tensor`` is a DequantizeLinear's output, whose scale and zero point are its inputs.
    """
    producers = {output: node for node in graph.node for output in node.output}
    if not downstream:
        node = producers[tensor]
        return node.input[1], node.input[2]
    frontier = [tensor]
    while frontier:
        name = frontier.pop()
        for node in graph.node:
            if name in node.input:
                if node.op_type == "QuantizeLinear":
                    return node.input[1], node.input[2]
                if node.op_type in ("Relu", "Clip"):
                    frontier += list(node.output)
    raise ValueError(f"no QuantizeLinear after {tensor}")


def int8_layer(int8_file: Path, folded: nn.Module, out: Output) -> dict[str, str]:
    """One depthwise layer before and after int8: per-channel weight scales, the weights, activations."""
    graph = onnx.load(str(int8_file)).graph
    values = _initializers(graph)
    conv_node = next(
        n for n in graph.node if n.op_type == "Conv" and n.input[1].startswith(f"{LAYER}.weight")
    )
    weight = dict(folded.named_modules())[LAYER].weight.detach().double().numpy()  # (C, 1, 3, 3)
    scales = values[f"{LAYER}.weight_scale"].astype(np.float64)  # one per output channel
    stored = values[f"{LAYER}.weight_quantized"].astype(np.float64)  # int8 values
    after = stored * scales.reshape(-1, 1, 1, 1)
    tensor_scale = np.abs(weight).max() / INT8_MAX  # what one scale for the whole layer would be
    per_tensor = np.clip(np.round(weight / tensor_scale), -INT8_MAX, INT8_MAX) * tensor_scale
    small = int(scales.argmin())

    figure, (bars, errors) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.2, 1]})
    channels = np.arange(len(scales))
    bars.bar(channels, scales, color="tab:orange", label="its own scale, max |w| / 127 (exported)")
    bars.axhline(tensor_scale, color="black", linestyle="--", label="one scale for the whole layer")
    bars.set_yscale("log")
    bars.set_ylim(top=6 * tensor_scale)  # room for the legend above the bars
    bars.set_xlabel(f"output channel of {LAYER} (3 × 3 depthwise, folded)")
    bars.set_ylabel("int8 step (weight units)")
    bars.set_title("the int8 step of each channel, read from the int8 file", fontsize=10)
    bars.legend(fontsize=8, loc="upper left")
    taps = np.arange(9)
    errors.bar(taps - 0.2, (after - weight)[small].ravel(), 0.4, color="tab:orange", label="its own scale")
    errors.bar(
        taps + 0.2, (per_tensor - weight)[small].ravel(), 0.4, color="0.6", label="one scale per layer"
    )
    for step, color in ((scales[small], "tab:orange"), (tensor_scale, "0.4")):
        for sign in (-1, 1):
            errors.axhline(sign * step / 2, color=color, linestyle=":", linewidth=1)
    errors.axhline(0, color="black", linewidth=0.6)
    errors.set_xticks(taps)
    errors.set_xlabel(f"the 9 taps of channel {small}, the one with the smallest scale")
    errors.set_ylabel("int8 weight − float weight")
    errors.set_title("the rounding error of that kernel (dotted: ± half a step)", fontsize=10)
    errors.legend(fontsize=8)
    figure.tight_layout()
    out.save(figure, "deployment_int8_weights")

    # Every quantized convolution: the rounding error, per-channel (shipped) and per-tensor (not).
    names, shipped, alternative = [], [], []
    modules = dict(folded.named_modules())
    for node in graph.node:
        if node.op_type != "Conv" or not node.input[1].endswith("weight_DequantizeLinear_Output"):
            continue  # the stem stays in float
        name = node.input[1].split(".weight")[0]
        w = modules[name].weight.detach().double().numpy()
        q = values[f"{name}.weight_quantized"] * values[f"{name}.weight_scale"].astype(np.float64).reshape(
            -1, 1, 1, 1
        )
        step = np.abs(w).max() / INT8_MAX
        t = np.clip(np.round(w / step), -INT8_MAX, INT8_MAX) * step
        rms = np.sqrt((w**2).mean())
        names.append(name.replace(".conv", ""))
        shipped.append(np.sqrt(((q - w) ** 2).mean()) / rms)
        alternative.append(np.sqrt(((t - w) ** 2).mean()) / rms)
    figure, axis = plt.subplots(figsize=(11, 3.6))
    x = np.arange(len(names))
    axis.bar(
        x - 0.2, [100 * e for e in shipped], 0.4, color="tab:orange", label="per-channel scales (exported)"
    )
    axis.bar(x + 0.2, [100 * e for e in alternative], 0.4, color="0.6", label="one scale per layer")
    axis.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    axis.set_ylabel("RMS weight error, % of RMS weight")
    axis.set_title("int8 rounding error of every quantized convolution (the stem stays in float)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    out.save(figure, "deployment_int8_errors")

    better = sum(s < a for s, a in zip(shipped, alternative, strict=True))
    in_scale, in_zero = _activation_qdq(graph, conv_node.input[0], downstream=False)
    out_scale, out_zero = _activation_qdq(graph, conv_node.output[0], downstream=True)

    def qrange(scale_name: str, zero_name: str) -> tuple[str, str, str]:
        scale, zero = float(values[scale_name]), int(values[zero_name])
        return f"{scale:.4f}", str(zero), f"[{scale * (0 - zero):.2f}, {scale * (255 - zero):.2f}]"

    input_scale, input_zero, input_range = qrange(in_scale, in_zero)
    output_scale, output_zero, output_range = qrange(out_scale, out_zero)
    return {
        "layer": LAYER,
        "layer_channels": str(len(scales)),
        "scale_min": f"{scales.min():.1e}",
        "scale_max": f"{scales.max():.1e}",
        "scale_spread": f"{scales.max() / scales.min():.1f}",
        "tensor_scale": f"{tensor_scale:.1e}",
        "small_channel": str(small),
        # The channel's largest weight in int8 steps: 127 with its own scale, this with the layer's.
        "small_steps_tensor": str(int(np.round(np.abs(weight[small]).max() / tensor_scale))),
        "error_channel": percent(
            float(np.sqrt(((after - weight) ** 2).mean()) / np.sqrt((weight**2).mean()))
        ),
        "error_tensor": percent(
            float(np.sqrt(((per_tensor - weight) ** 2).mean()) / np.sqrt((weight**2).mean()))
        ),
        "error_layers_better": str(better),
        "quantized_layers": str(len(names)),
        "input_scale": input_scale,
        "input_zero_point": input_zero,
        "input_range": input_range,
        "output_scale": output_scale,
        "output_zero_point": output_zero,
        "output_range": output_range,
    }


def _row(report: BenchReport, backend: str) -> BenchResult | None:
    return next((r for r in report.results if r.backend == backend and r.median_ms is not None), None)


def bench_section(report: BenchReport, model_name: str, cpu: str, out: Output) -> dict[str, str]:
    """The bench table and chart (every timing measured), the int8 check, the recommendation."""
    rows = []
    for r in report.results:
        median = "–" if r.median_ms is None else f"{r.median_ms:.3f}"
        p90 = "–" if r.p90_ms is None else f"{r.p90_ms:.3f}"
        name = f"{r.backend} (peer default)" if r.peer else r.backend
        share = "–" if r.peak_share is None else f"{100 * r.peak_share:.1f}%"
        rows.append([name, r.precision, median, p90, share, r.check or "–", r.note.replace("|", "/")])
    headers = ["backend", "precision", "median ms", "p90 ms", "% of peak", "check", "note"]
    table = markdown_table(headers, rows)

    measured = [r for r in report.results if r.median_ms is not None]
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(measured) + 1.4))
    labels = [f"{r.backend} ({r.precision})" for r in measured]
    colors = ["0.6" if r.peer else PRECISION_COLORS.get(r.precision, "tab:blue") for r in measured]
    medians = [r.median_ms or 0.0 for r in measured]
    axis.barh(range(len(measured)), medians, color=colors)
    for y, value in enumerate(medians):
        axis.text(value * 1.05, y, f"{value:.2f} ms", va="center", fontsize=8)
    axis.set_xlim(min(medians) / 2, max(medians) * 4)  # room for the labels right of the bars
    axis.set_yticks(range(len(measured)), labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("median ms at batch 1 (log scale); gray: peer default, blue fp32, orange int8")
    axis.set_title(f"batch 1 on {cpu.split(':')[0]}, threads: {report.threads}, {report.date}", fontsize=9)
    figure.tight_layout()
    out.save(figure, "deployment_bench")

    int8 = _row(report, "onnxruntime-int8")
    fp32 = _row(report, "onnxruntime")
    eager = _row(report, "eager")
    if int8 is None or fp32 is None or eager is None:
        raise RuntimeError("the page needs onnxruntime, onnxruntime-int8 and eager timed (the deploy extra)")
    check = int8.check_report
    faster = (int8.median_ms or 0) < (fp32.median_ms or 0)
    advice = recommend(report, model_name, 1)
    return {
        "bench_table": table,
        "bench_date": report.date,
        "bench_threads": str(report.threads),
        "recommendation": "\n".join(advice.lines()),
        "peer_ratio": "–" if advice.ratio is None else ratio(advice.ratio),
        "agreement": percent(float(check["agreement"])),  # type: ignore[arg-type]
        "disagreements": str(check["disagreements"]),
        "float_accuracy": percent(float(check["float_accuracy"])),  # type: ignore[arg-type]
        "int8_accuracy": percent(float(check["int8_accuracy"])),  # type: ignore[arg-type]
        "int8_ratio": ratio((int8.median_ms or 0) / (fp32.median_ms or 1)),
        "int8_word": "faster" if faster else "slower",
        "int8_word_zh": "更快" if faster else "更慢",
        "eager_ms": f"{eager.median_ms:.2f}",
        "eager_peak": percent(eager.peak_share or 0.0, 1),
        "onnxruntime_peak": percent(fp32.peak_share or 0.0, 1),
        "spread": f"{max(medians) / min(medians):.0f}",
        # One image's Mult-Adds at this CPU's fp32 peak: the floor no path can beat.
        "peak_us": f"{1e6 * report.macs[model_name] / (report.peak.peak('fp32').gmacs * 1e9):.0f}",
        "onnxruntime_ms": f"{fp32.median_ms:.3f}",
    }


def make(out: Output) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        weights = demo_weights(out.quick, scratch)
        model = create_model(weights).eval()
        assert isinstance(model, MobileNet)
        _calibration, held_out = digits_sets(model.preprocess, model.labels, calib_samples=1)
        numbers = fold_section(model, held_out.inputs) | {"calib_samples": str(CALIB_SAMPLES)}
        # One run of the bench writes the int8 file (write_export, calibrated on the digits'
        # training split, checked on the held-out split) and times every path.
        report = run_bench(
            [weights],
            QUICK_BACKENDS if out.quick else FULL_BACKENDS,
            (1,),
            threads=THREADS,
            warmup=3,
            min_seconds=0.05 if out.quick else 0.2,
            rounds=1 if out.quick else 2,
            workdir=scratch / "bench",
            calib="digits",
            calib_samples=CALIB_SAMPLES,
        )
        int8_files = sorted((scratch / "bench").rglob("*int8*.onnx"))
        assert len(int8_files) == 1, int8_files
        numbers |= int8_layer(int8_files[0], fold_for_inference(model), out)
        numbers |= bench_section(report, weights.name, report.peak.feature_line(), out)
    return numbers
