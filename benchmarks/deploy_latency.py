"""Acceptance 1 and 2 of the deployment issue: our best paths against the ordinary export.

For V1, V2, V3-Large and V3-Small at 224 px, batch 1, 2 threads, this times side by side:

- the baseline: ``torch.onnx.export(model, x, path)`` of the unfolded model, nothing else,
  run by a default ONNX Runtime session and by OpenVINO's default CPU compile (both given the
  same 2 threads; OpenVINO held to fp32 so the comparison stays fp32 against fp32);
- every fp32 path mobilenets offers (eager, channels_last, folded ONNX on ONNX Runtime and on
  OpenVINO, ExecuTorch XNNPACK) and every int8 path (ONNX Runtime and OpenVINO on the QDQ
  file, ExecuTorch XNNPACK int8).

All backends of a model are timed in interleaved rounds, so machine noise hits them alike.
It prints, per model: best fp32 (ours) / best baseline (target <= 1.0) and best int8 / best
fp32 (target <= 0.6), and writes the full table as markdown, JSON and PNG.

    .venv/bin/python benchmarks/deploy_latency.py [--rounds 3] [--seconds 1] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from mobilenets.bench.backends import BACKENDS, Backend, Call, ExportCache
from mobilenets.bench.report import bench_table, save_bench
from mobilenets.bench.timing import BenchReport, best_result, run_bench
from mobilenets.export.onnx_export import export_onnx_plain
from mobilenets.models.mobilenet import MobileNet

MODELS = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
OURS_FP32 = ("eager", "channels_last", "onnxruntime", "openvino", "executorch")
OURS_INT8 = ("onnxruntime-int8", "openvino-int8", "executorch-int8")
BASELINES = ("plain-onnxruntime", "plain-openvino")


def _plain_file(cache: ExportCache) -> Path:
    path = cache.folder / "plain.onnx"
    if not path.exists():
        export_onnx_plain(cache.model, path, tuple(cache.model.preprocess.input_size))
    return path


class PlainOnnxRuntime(Backend):
    """The ordinary export in a default ONNX Runtime session (only the thread count set)."""

    name = "plain-onnxruntime"
    runtime = "onnxruntime"
    precision = "baseline"

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Call:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(_plain_file(cache)), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: inputs.numpy()}
        return lambda: session.run(None, feed)


class PlainOpenVino(Backend):
    """The ordinary export compiled by OpenVINO with its defaults (threads set, fp32 kept)."""

    name = "plain-openvino"
    runtime = "openvino"
    precision = "baseline"

    def prepare(self, model: MobileNet, inputs: torch.Tensor, threads: int, cache: ExportCache) -> Call:
        import openvino as ov

        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
        compiled = core.compile_model(core.read_model(str(_plain_file(cache))), "CPU", config)
        request = compiled.create_infer_request()
        array = np.ascontiguousarray(inputs.numpy())
        return lambda: request.infer({0: array})


def summarize(report: BenchReport) -> list[dict[str, object]]:
    """Per model: the best of each group and the two acceptance ratios."""
    rows = []
    for model in report.macs:
        best_ours = best_result(report, model, 1, "fp32")
        best_base = best_result(report, model, 1, "baseline")
        best_int8 = best_result(report, model, 1, "int8")
        row: dict[str, object] = {"model": model}
        for key, result in (("fp32", best_ours), ("baseline", best_base), ("int8", best_int8)):
            row[key] = None if result is None else (result.backend, result.median_ms)
        if best_ours and best_base and best_ours.median_ms and best_base.median_ms:
            row["fp32_vs_baseline"] = best_ours.median_ms / best_base.median_ms
        if best_ours and best_int8 and best_ours.median_ms and best_int8.median_ms:
            row["int8_vs_fp32"] = best_int8.median_ms / best_ours.median_ms
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per backend per round")
    parser.add_argument("--out", default="benchmarks/results", help="folder for deploy_latency.{md,json,png}")
    args = parser.parse_args()
    BACKENDS.update({PlainOnnxRuntime.name: PlainOnnxRuntime, PlainOpenVino.name: PlainOpenVino})
    console = Console(width=150)
    torch.manual_seed(0)
    report = run_bench(
        list(args.models.split(",")),
        BASELINES + OURS_FP32 + OURS_INT8,
        (1,),
        args.threads,
        rounds=args.rounds,
        min_seconds=args.seconds,
        progress=lambda message: console.log(message),
    )
    console.print(bench_table(report))
    save_bench(report, args.out, stem="deploy_latency")
    lines = [
        "| model | best baseline | best fp32 (ours) | fp32 / baseline (≤ 1.0) "
        "| best int8 | int8 / fp32 (≤ 0.6) |",
        "|---|---|---|---|---|---|",
    ]

    def cell(value: object) -> str:
        return "–" if value is None else f"{value[1]:.2f} ms {value[0]}"  # type: ignore[index]

    for row in summarize(report):
        ratio_a, ratio_b = row.get("fp32_vs_baseline"), row.get("int8_vs_fp32")
        lines.append(
            f"| {row['model']} | {cell(row['baseline'])} | {cell(row['fp32'])} | "
            f"{'–' if ratio_a is None else f'{ratio_a:.2f}'} | {cell(row['int8'])} | "
            f"{'–' if ratio_b is None else f'{ratio_b:.2f}'} |"
        )
    summary = "\n".join(lines) + f"\n\n{report.date}; {report.peak.describe()}\n"
    Path(args.out, "deploy_latency_summary.md").write_text(summary)
    console.print(summary)


if __name__ == "__main__":
    main()
