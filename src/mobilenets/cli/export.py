"""``mobilenets export``: a weight file to ONNX or ExecuTorch, fp32 or int8, checked for parity.

``--format auto`` first times every file path on this machine (``bench.recommend``) and writes
the fastest one that passes its accuracy check.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from mobilenets.bench.recommend import file_candidates, recommend
from mobilenets.bench.registry import BACKENDS
from mobilenets.bench.report import print_bench_table
from mobilenets.bench.timing import run_bench
from mobilenets.cli.calibration_args import add_calibration_arguments
from mobilenets.cli.failures import EXIT_OK, EXIT_PARTIAL
from mobilenets.export.parity import format_parity
from mobilenets.export.pipeline import SUFFIXES, check_export_output, default_output, export_model
from mobilenets.export.runtimes import runtime_missing

AUTO_SECONDS, AUTO_ROUNDS = 0.5, 3  # enough to rank paths that differ by more than noise


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export to ONNX or ExecuTorch (fp32 or int8) and check parity",
        description=(
            "Export a model for deployment. Batch norm is folded into the convolutions; the file is "
            "then run in its own runtime and compared with the eager model: the report is printed "
            "and written beside the file as <file>.parity.json. Exit code 1 if the check fails."
        ),
    )
    parser.add_argument("weights", help="a mobilenets weight file (or a model name, for random weights)")
    parser.add_argument(
        "--format",
        dest="export_format",
        choices=("onnx", "executorch", "auto"),
        default="onnx",
        help="auto: time every file path here and write the fastest that passes its check (default onnx)",
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="quantize to int8 (needs --calib); with --format auto: only int8 paths compete",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=1,
        help="the batch an ExecuTorch program is exported for, and the one --format auto is fastest at (1)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="--format auto: threads to time with (all cores)"
    )
    add_calibration_arguments(
        parser,
        "calibration images: a folder (a quarter is held out for the agreement check) or 'digits'",
    )
    parser.add_argument(
        "--no-bias-correction",
        dest="bias_correction",
        action="store_false",
        help="int8: leave weight rounding to the quantizer, without correcting the biases for it",
    )
    parser.add_argument("--out", help="output file (default: beside the weights, .onnx / .int8.onnx / .pte)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:

    console = Console(soft_wrap=True)  # a path or a figure is never broken across lines
    if args.calib_samples < 1:
        raise ValueError(f"--calib-samples {args.calib_samples}: give 1 or more")
    extra: dict[str, object] = {}
    auto = args.export_format == "auto"
    if auto:
        chosen = _choose_format(args, console)
        if chosen is None:  # every path failed its check: nothing is written
            return EXIT_PARTIAL
        args.export_format, args.int8, extra = chosen
    needed = ("onnx", "onnxruntime") if args.export_format == "onnx" else ("executorch",)
    for runtime in needed:
        missing = runtime_missing(runtime)
        if missing:  # the boundary prints it as one line on stderr, exit 2
            raise ValueError(f"--format {args.export_format}: {missing}")
    if args.calib is not None and not args.int8:
        console.print("[yellow]--calib given without --int8: its images only feed the fp32 parity check[/]")
    if not args.bias_correction and not args.int8:
        console.print(
            "[yellow]--no-bias-correction does nothing without --int8 (fp32 weights are not rounded)[/]"
        )
    if args.threads is not None and not auto:
        console.print(
            "[yellow]--threads only sets how --format auto times the paths; here it does nothing[/]"
        )
    result = export_model(
        args.weights,
        args.export_format,
        out=args.out,
        int8=args.int8,
        calib=args.calib,
        calib_samples=args.calib_samples,
        held_out=args.held_out,
        bias_correction=args.bias_correction,
        batch_size=args.batch,
        extra_report=extra,
    )
    console.print(f"wrote {result.path} ({result.path.stat().st_size / 1e6:.2f} MB)")
    console.print(format_parity(result.parity))
    skipped = result.parity.get("skipped_files") or []
    assert isinstance(skipped, list)
    for reason in skipped:
        console.print(f"[yellow]skipped {reason}[/]")
    console.print(f"parity report: {result.parity_path}")
    if not result.parity["passed"]:  # the one line on stderr, as for every failure
        # An int8 file that changes the float model's answer too often must not ship; the
        # paths that keep it are fp32 and, where the CPU has it, bf16 (docs/deployment.md).
        fix = (
            "; export without --int8 (fp32), or with --format auto in its place "
            "(the fastest path that passes its check here)"
            if result.parity["kind"] == "int8"
            else ""
        )
        print(
            f"mobilenets export: error: {result.path}: the exported model fails its parity check "
            f"(see {result.parity_path}); the file is kept for inspection{fix}",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    return EXIT_OK


def _choose_format(args: argparse.Namespace, console: Console) -> tuple[str, bool, dict[str, object]] | None:
    """Time the file paths here; the format and precision of the fastest that passed its check.

    ``None`` (after one line on stderr) when none passed.
    """
    cores = os.cpu_count() or 1
    if args.batch < 1:
        raise ValueError(f"--batch {args.batch}: give 1 or more")
    if args.threads is not None and not 1 <= args.threads <= 4 * cores:
        raise ValueError(f"--threads {args.threads}: give 1 to {4 * cores} (this machine has {cores} cores)")
    wanted = None
    if args.out:  # the file name settles the format: never write a .onnx file that holds something else
        by_suffix = {suffix: name for name, suffix in SUFFIXES.items()}
        wanted = by_suffix.get(Path(args.out).suffix)
        if wanted is None:
            raise ValueError(f"--out {args.out}: give a .onnx or .pte name (or none) with --format auto")
    # The file is written after minutes of timing: a path that cannot take it fails first.
    target_format = wanted or "onnx"
    target = Path(args.out) if args.out else default_output(args.weights, target_format, False)
    check_export_output(args.weights, target, target_format)
    int8: bool | None = True if args.int8 else None
    if args.calib is None:
        if args.int8:
            raise ValueError(
                "--int8 needs calibration images: pass --calib DIR (a folder of images) or digits"
            )
        int8 = False  # int8 agreement cannot be checked without images: not a candidate
        console.print(
            "[yellow]no --calib: only fp32 paths compete (int8 needs images to calibrate and check)[/]"
        )
    candidates = tuple(name for name in file_candidates(int8, wanted) if BACKENDS[name]().missing() is None)
    if not candidates:
        raise ValueError(
            "--format auto: no runtime for any file path is installed: pip install 'mobilenets[deploy]'"
        )
    with console.status("timing the file paths") as status:
        report = run_bench(
            [args.weights],
            candidates,
            [args.batch],
            args.threads,
            min_seconds=AUTO_SECONDS,
            rounds=AUTO_ROUNDS,
            calib=args.calib,
            calib_samples=args.calib_samples,
            held_out=args.held_out,
            progress=lambda message: status.update(message),
        )
    model = next(iter(report.macs))
    choice = recommend(report, model, args.batch)
    print_bench_table(console, report)
    if choice.best is None:
        fix = (
            "leave out --int8 so that fp32 and bf16 paths compete too"
            if args.int8
            else "see the check column of the table above"
        )
        print(
            f"mobilenets export: error: {args.weights}: no file path passed its accuracy check here, "
            f"so nothing was written; {fix}",
            file=sys.stderr,
        )
        return None
    best = choice.best
    backend = BACKENDS[best.backend]
    assert backend.export_as is not None
    export_format, int8_chosen = backend.export_as
    console.print(
        escape(
            f"fastest checked file path at batch {args.batch} on {report.peak.cpu_name}: {best.backend} "
            f"({best.precision}, {best.median_ms:.2f} ms); run the file with {backend.how}"
        ),
        soft_wrap=True,
    )
    chosen = {
        "backend": best.backend,
        "precision": best.precision,
        "median_ms": best.median_ms,
        "batch": args.batch,
        "run_with": backend.how,
        "cpu": report.peak.feature_line(),
        "timed": {
            row.backend: {
                "median_ms": row.median_ms,
                "check": row.check,
                "passed": row.check_passed,
                "note": row.note,
            }
            for row in report.results
        },
    }
    return export_format, int8_chosen, {"chosen_by_format_auto": chosen}
