"""``mobilenets export``: a weight file to ONNX or ExecuTorch, fp32 or int8, checked for parity."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from mobilenets.cli.failures import EXIT_OK, EXIT_PARTIAL
from mobilenets.export.parity import format_parity
from mobilenets.export.pipeline import export_model
from mobilenets.export.runtimes import runtime_missing


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
    parser.add_argument("--format", dest="export_format", choices=("onnx", "executorch"), default="onnx")
    parser.add_argument("--int8", action="store_true", help="quantize to int8 (needs --calib)")
    parser.add_argument(
        "--calib",
        metavar="DIR|digits",
        help="calibration images: a folder (a quarter is held out for the agreement check) or 'digits'",
    )
    parser.add_argument("--calib-samples", type=int, default=256, help="images used to calibrate (256)")
    parser.add_argument(
        "--no-bias-correction",
        dest="bias_correction",
        action="store_false",
        help="int8: leave weight rounding to the quantizer, without correcting the biases for it",
    )
    parser.add_argument("--out", help="output file (default: beside the weights, .onnx / .int8.onnx / .pte)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:

    console = Console(stderr=False)
    needed = ("onnx", "onnxruntime") if args.export_format == "onnx" else ("executorch",)
    for runtime in needed:
        missing = runtime_missing(runtime)
        if missing:  # the boundary prints it as one line on stderr, exit 2
            raise ValueError(f"--format {args.export_format}: {missing}")
    if args.calib is not None and not args.int8:
        console.print("[yellow]--calib given without --int8: its images only feed the fp32 parity check[/]")
    result = export_model(
        args.weights,
        args.export_format,
        out=args.out,
        int8=args.int8,
        calib=args.calib,
        calib_samples=args.calib_samples,
        bias_correction=args.bias_correction,
    )
    console.print(f"wrote {result.path} ({result.path.stat().st_size / 1e6:.2f} MB)")
    console.print(format_parity(result.parity))
    skipped = result.parity.get("skipped_files") or []
    assert isinstance(skipped, list)
    for reason in skipped:
        console.print(f"[yellow]skipped {reason}[/]")
    console.print(f"parity report: {result.parity_path}")
    if not result.parity["passed"]:  # the one line on stderr, as for every failure
        print(
            f"mobilenets export: error: {result.path}: the exported model fails its parity check "
            f"(see {result.parity_path}); the file is kept for inspection",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    return EXIT_OK
