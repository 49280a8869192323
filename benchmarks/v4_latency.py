"""MobileNetV4 Conv-S and Conv-M beside V3-Large: CPU latency of every fp32 and int8 path.

Each model runs at its paper input (V4 Conv-S 224 px, Conv-M 256 px, V3-Large 224 px), batch 1,
2 threads, random weights (latency does not depend on them). All backends of a model are timed
in interleaved rounds, so a burst of load from the machine's neighbours falls on all of them.
It prints the full table, then one row per model: Mult-Adds, the fastest fp32 and int8 path,
their ratio, and each model's best fp32 time relative to V3-Large's; then this CPU's features and
the load average before and after, since the machine may be shared. Writes v4_latency.{md,json,png}
and v4_latency_summary.md to --out.

    .venv/bin/python benchmarks/v4_latency.py [--rounds 5] [--seconds 0.3] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from rich.console import Console

from mobilenets.bench.cpu_peak import parse_cpuinfo
from mobilenets.bench.report import bench_table, save_bench
from mobilenets.bench.timing import BenchReport, best_result, run_bench
from mobilenets.weights.create import create_model

MODELS = ("mobilenet_v4_conv_small", "mobilenet_v4_conv_medium", "mobilenet_v3_large")
REFERENCE = "mobilenet_v3_large"
FP32 = ("eager", "channels_last", "onnxruntime", "openvino", "executorch")
INT8 = ("onnxruntime-int8", "openvino-int8", "executorch-int8")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (how busy the shared machine was)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min, {os.cpu_count()} CPUs)"


def cpu_features() -> str:
    """The CPU's name and the vector extensions that decide which kernels run."""
    try:
        info = parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        return "unknown CPU (no /proc/cpuinfo)"
    flags = info.get("flags") or set()
    assert isinstance(flags, set)
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
    found = [flag for flag in wanted if flag in flags]
    return (
        f"{info.get('name', 'unknown CPU')}, {info.get('cores')} cores; flags: {' '.join(found) or 'no AVX2'}"
    )


def summary_table(report: BenchReport, inputs: dict[str, int]) -> str:
    """Markdown: per model, Mult-Adds and the fastest fp32 / int8 paths, against V3-Large."""
    reference = best_result(report, REFERENCE, 1, "fp32")
    lines = [
        "| model | input | Mult-Adds | best fp32 | best int8 | int8 / fp32 | fp32 vs V3-Large |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, macs in report.macs.items():
        fp32, int8 = best_result(report, model, 1, "fp32"), best_result(report, model, 1, "int8")
        size = f"{inputs[model]} px" if model in inputs else "?"
        ratio = "–"
        if fp32 and int8 and fp32.median_ms and int8.median_ms:
            ratio = f"{int8.median_ms / fp32.median_ms:.2f}"
        versus = (
            f"{fp32.median_ms / reference.median_ms:.2f}x"
            if fp32 and reference and fp32.median_ms and reference.median_ms
            else "–"
        )
        lines.append(
            f"| {model} | {size} | {macs / 1e6:.0f}M | {_cell(fp32)} | {_cell(int8)} | {ratio} | {versus} |"
        )
    return "\n".join(lines)


def _cell(result: object) -> str:
    if result is None:
        return "–"
    return f"{result.median_ms:.2f} ms {result.backend}"  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.3, help="timed seconds per backend per round")
    parser.add_argument("--out", default="benchmarks/results", help="folder for v4_latency.{md,json,png}")
    args = parser.parse_args()
    console = Console(width=150)
    torch.manual_seed(0)
    before = load_average()
    report = run_bench(
        list(args.models.split(",")),
        FP32 + INT8,
        (1,),
        args.threads,
        rounds=args.rounds,
        min_seconds=args.seconds,
        progress=lambda message: console.log(message),
    )
    after = load_average()
    console.print(bench_table(report))
    save_bench(report, args.out, stem="v4_latency")
    inputs = {name: create_model(name).preprocess.input_size[1] for name in report.macs}
    summary = (
        summary_table(report, inputs)
        + f"\n\n{report.date}; {args.threads} threads; batch 1; {args.rounds} rounds x {args.seconds:g} s"
        + f"\nCPU: {cpu_features()}\nPeak estimate: {report.peak.describe()}"
        + f"\nLoad average before: {before}; after: {after}\n"
    )
    Path(args.out, "v4_latency_summary.md").write_text(summary)
    console.print(summary)


if __name__ == "__main__":
    main()
