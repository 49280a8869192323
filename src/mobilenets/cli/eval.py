"""``mobilenets eval``: top-1, top-5 and per-class accuracy of a weight file, and a confusion-matrix PNG.

mobilenets eval --data digits --weights runs/demo/best.safetensors
mobilenets eval --data photos/ --weights model.safetensors --out eval/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from mobilenets.cli.failures import EXIT_OK, EXIT_PARTIAL
from mobilenets.cli.weights_args import add_weights_arguments, model_name
from mobilenets.output_paths import check_output_file
from mobilenets.train.evaluate_weights import eval_table, evaluate_weights, write_eval_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="accuracy of a weight file on a labelled dataset")
    parser.add_argument("--data", required=True, help="'digits' (its held-out split) or an ImageFolder path")
    add_weights_arguments(parser)
    parser.add_argument(
        "--split", default="val", choices=("val", "all"), help="a folder's val/ (default) or every image"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--out",
        help="folder for confusion.png and eval.json (default: eval-<weights name>/ beside the weights)",
    )
    parser.epilog = (
        "Unreadable images are skipped, each named on its own line and listed under 'skipped' in "
        "eval.json; the exit code is then 1, as the accuracy covers fewer images than the data."
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.workers < 0:
        raise ValueError(f"--batch-size {args.batch_size} / --workers {args.workers}: give >= 1 / >= 0")
    # Default: a folder of its own beside the weights, so a training run's confusion.png stays.
    weights = Path(args.weights)
    out = Path(args.out) if args.out else weights.parent / f"eval-{weights.stem}"
    if out.exists() and not out.is_dir():  # refused before the work, not after
        raise ValueError(f"--out {out}: is a file; give a folder for confusion.png and eval.json")
    # Before the work: a folder that cannot take the report (or its parent, when it is still to
    # be made) fails now, not after every image has been scored.
    check_output_file(out / "eval.json", (".json",), "--out", create_parent=True)
    check_output_file(out / "confusion.png", (".png",), "--out", create_parent=True)
    result = evaluate_weights(
        args.data,
        args.weights,
        model_name=model_name(args),
        split=args.split,
        batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
    )
    console = Console(soft_wrap=True)
    console.print(eval_table(result))
    png, report_path = write_eval_report(result, out, Path(args.weights).name)
    console.print(
        f"top-1 {100 * result.top1:.2f}%  top-5 {100 * result.top5:.2f}%  on {result.count} "
        f"images; confusion matrix: {png}; report: {report_path}",
        highlight=False,
    )
    if result.skipped:  # each was named on its own line as it was found
        print(
            f"{len(result.skipped)} unreadable images skipped: the accuracy covers {result.count} "
            "images; they are listed in eval.json",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    return EXIT_OK
