"""``mobilenets bench``: latency, throughput and share of peak across backends."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from mobilenets.cli import EXIT_OK, EXIT_USAGE


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more integers >= 1")
    return values


def register(subparsers: argparse._SubParsersAction) -> None:
    from mobilenets.bench import DEFAULT_BACKENDS

    parser = subparsers.add_parser(
        "bench",
        help="time models across backends (PyTorch, ONNX Runtime, OpenVINO, ExecuTorch)",
        description=(
            "Warm up, then time each backend: median and p90 latency, throughput, achieved GMAC/s "
            "and its share of this CPU's estimated fp32 peak. Backends whose runtime is not "
            "installed are skipped with a note."
        ),
    )
    parser.add_argument("models", nargs="+", metavar="MODEL|WEIGHTS", help="model names or weight files")
    parser.add_argument(
        "--backends",
        default=",".join(DEFAULT_BACKENDS),
        help="comma-separated: eager, channels_last, compile, onnxruntime, onnxruntime-int8, openvino, "
        "openvino-int8, executorch, executorch-int8 (default: %(default)s)",
    )
    parser.add_argument("--batch", type=_int_list, default=[1], help="batch sizes, e.g. 1,32 (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="threads per backend (default: all cores)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per backend and round")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved timing rounds (default 1)")
    parser.add_argument("--out", help="folder for bench.md, bench.json and bench.png")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mobilenets.bench import run_bench
    from mobilenets.bench_backends import get_backend
    from mobilenets.bench_report import bench_markdown, bench_table, save_bench

    console = Console(width=max(Console().width, 140))
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    for name in backends:
        get_backend(name)  # unknown names: a usage error before any work
    if args.threads is not None and args.threads < 1:
        console.print(f"[red]--threads {args.threads}: must be >= 1[/]")
        return EXIT_USAGE
    for name in backends:
        missing = get_backend(name).missing()
        if missing:
            console.print(f"[yellow]{name} skipped: {escape(missing)}[/]")
    with console.status("benchmarking") as status:
        report = run_bench(
            args.models,
            backends,
            args.batch,
            args.threads,
            warmup=args.warmup,
            min_seconds=args.seconds,
            rounds=args.rounds,
            progress=lambda message: status.update(message),
        )
    console.print(bench_table(report))
    console.print(f"peak estimate: {report.peak.describe()}", soft_wrap=True)
    if args.out:
        for path in save_bench(report, args.out):
            console.print(f"wrote {path}")
    else:
        console.print("markdown:\n" + bench_markdown(report), markup=False)
    return EXIT_OK
