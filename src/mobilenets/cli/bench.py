"""``mobilenets bench``: latency, throughput and share of peak across backends."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from mobilenets.bench.recommend import recommendations
from mobilenets.bench.registry import BACKENDS, get_backend
from mobilenets.bench.report import TABLE_WIDTH, bench_markdown, print_bench_table, save_bench
from mobilenets.bench.timing import DEFAULT_BACKENDS, run_bench
from mobilenets.cli.calibration_args import add_calibration_arguments
from mobilenets.cli.failures import EXIT_OK
from mobilenets.output_paths import check_output_file

# A timed window longer than this is a typo (1e308 would never end).
MAX_SECONDS = 600.0


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more integers >= 1")
    return values


def register(subparsers: argparse._SubParsersAction) -> None:

    parser = subparsers.add_parser(
        "bench",
        help="time models across backends (PyTorch, ONNX Runtime, OpenVINO, ExecuTorch)",
        description=(
            "Warm up, then time each backend: median and p90 latency, throughput, achieved GMAC/s "
            "and its share of this CPU's estimated peak for the backend's precision. Every backend "
            "is checked against the eager fp32 model (fp32: parity; bf16, fp16, int8: top-1 "
            "agreement on held-out --calib images). Backends whose runtime is not installed, or "
            "whose precision this CPU cannot compute, are skipped with a note. --recommend times "
            "every path at batch 1 and 32 and names the fastest that passed its check."
        ),
    )
    parser.add_argument("models", nargs="+", metavar="MODEL|WEIGHTS", help="model names or weight files")
    parser.add_argument(
        "--backends",
        default=None,
        help=f"comma-separated, from: {', '.join(BACKENDS)} (default: {','.join(DEFAULT_BACKENDS)}; "
        "with --recommend: all)",
    )
    parser.add_argument(
        "--batch",
        type=_int_list,
        default=None,
        help="batch sizes, e.g. 1,32 (default 1; with --recommend 1,32)",
    )
    parser.add_argument(
        "--recommend",
        action="store_true",
        help="name the fastest path here that passes its accuracy check, beside the fastest peer default",
    )
    add_calibration_arguments(
        parser,
        "images to calibrate int8 on and to check every path with (a quarter held out); "
        "without them bf16/fp16/int8 paths are timed but unchecked, never recommended",
    )
    parser.add_argument("--threads", type=int, default=None, help="threads per backend (default: all cores)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per backend and round")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved timing rounds (default 1)")
    parser.add_argument("--out", help="folder for bench.md, bench.json and bench.png")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:

    console = Console(width=max(Console().width, TABLE_WIDTH))
    chosen = args.backends or ",".join(BACKENDS if args.recommend else DEFAULT_BACKENDS)
    backends = [name.strip() for name in chosen.split(",") if name.strip()]
    batches = args.batch or ([1, 32] if args.recommend else [1])
    if not backends:
        raise ValueError("--backends names no backend; give one or more, e.g. eager,onnxruntime")
    for name in backends:
        get_backend(name)  # unknown names: a usage error before any work
    cores = os.cpu_count() or 1
    if args.threads is not None and not 1 <= args.threads <= 4 * cores:
        raise ValueError(f"--threads {args.threads}: give 1 to {4 * cores} (this machine has {cores} cores)")
    if not (math.isfinite(args.seconds) and 0 < args.seconds <= MAX_SECONDS):
        raise ValueError(f"--seconds {args.seconds}: give a time in (0, {MAX_SECONDS:g}] seconds")
    if args.calib_samples < 1:
        raise ValueError(f"--calib-samples {args.calib_samples}: give 1 or more")
    if args.warmup < 0 or args.rounds < 1:
        raise ValueError(f"--warmup {args.warmup} / --rounds {args.rounds}: warmup must be >= 0, rounds >= 1")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out}: is a file; give a folder for bench.md, bench.json and bench.png")
    if args.out:  # before any timing: a folder that cannot take the results fails now
        for name in ("bench.md", "bench.json", "bench.png"):
            check_output_file(Path(args.out) / name, (Path(name).suffix,), "--out", create_parent=True)
    for name in backends:
        missing = get_backend(name).missing()
        if missing:
            console.print(f"[yellow]{name} skipped: {escape(missing)}[/]")
    with console.status("benchmarking") as status:
        report = run_bench(
            args.models,
            backends,
            batches,
            args.threads,
            warmup=args.warmup,
            min_seconds=args.seconds,
            rounds=args.rounds,
            progress=lambda message: status.update(message),
            calib=args.calib,
            calib_samples=args.calib_samples,
            held_out=args.held_out,
        )
    print_bench_table(console, report)
    if args.recommend:
        console.print(
            f"[bold]Fastest checked path on this machine[/] ({escape(report.peak.feature_line())}):"
        )
        for recommendation in recommendations(report):
            for line in recommendation.lines():
                console.print(escape(line), soft_wrap=True)
    if args.out:
        for path in save_bench(report, args.out):
            console.print(f"wrote {path}")
    else:
        console.print("markdown:\n" + bench_markdown(report), markup=False, soft_wrap=True)
    return EXIT_OK
