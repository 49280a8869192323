"""``mobilenets predict IMAGE_OR_DIR...``: top-k ImageNet classes for image files and folders.

Unreadable files (truncated, empty, not an image, too many pixels) get a one-line error and
the run goes on. Results go to --json/--csv as they finish, so Ctrl-C or a crash keeps them.
Exit code 0 when every file worked, 1 when some failed (the summary names them), 2 for usage
errors; see ``mobilenets --help`` for the rest.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mobilenets.cli.failures import EXIT_OK, EXIT_PARTIAL
from mobilenets.cli.weights_args import add_weights_arguments, model_name
from mobilenets.data.images import DEFAULT_MAX_PIXELS
from mobilenets.output_paths import check_output_file
from mobilenets.predict.classify import Prediction, collect_inputs
from mobilenets.predict.results_file import ResultsFile, predict_recorded
from mobilenets.printable import printable
from mobilenets.weights.create import create_model


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help="classify images with pretrained or converted weights")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files and folders")
    add_weights_arguments(parser)
    parser.add_argument("--topk", type=int, default=5, help="classes to show per image (default 5)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default 16)")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger images as decompression bombs (default {DEFAULT_MAX_PIXELS:,})",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", type=Path, metavar="OUT", help="write all results (and failures) as JSON")
    output.add_argument("--csv", type=Path, metavar="OUT", help="write all results (and failures) as CSV")
    parser.set_defaults(handler=run)


def result_table(prediction: Prediction) -> Table:
    table = Table(title=printable(prediction.path), title_justify="left", show_edge=False)
    table.add_column("#", justify="right")
    table.add_column("class")
    table.add_column("index", justify="right")
    table.add_column("probability", justify="right")
    for rank, score in enumerate(prediction.top, start=1):
        table.add_row(str(rank), score.label, str(score.index), f"{score.probability:.4f}")
    return table


def run(args: argparse.Namespace) -> int:
    # soft_wrap: an error line stays one line (greppable), however long its path.
    console, errors = Console(), Console(stderr=True, soft_wrap=True, highlight=False)
    for flag, value in (
        ("--topk", args.topk),
        ("--batch-size", args.batch_size),
        ("--max-pixels", args.max_pixels),
    ):
        if value < 1:
            raise ValueError(f"{flag} {value}: must be >= 1")
    # Output paths are checked before any work: a typo costs nothing, and destroys nothing (an
    # input image or the weights named as the output are refused).
    kind, out_path = ("json", args.json) if args.json else ("csv", args.csv) if args.csv else (None, None)
    paths, missing = collect_inputs(args.inputs)
    if out_path is not None and kind:
        reads = [*paths, *([args.weights] if Path(args.weights).exists() else [])]
        check_output_file(out_path, (f".{kind}",), f"--{kind}", protect=reads)
    model = create_model(model_name(args), weights=args.weights)  # no network for official weights: exit 4
    if model.config.num_classes == 0 or model.config.features_only:
        raise ValueError(
            f"{args.weights}: the model has no classifier (num_classes=0 or features_only), so there is "
            "nothing to predict; use weights of a classifier"
        )
    info = {"model": model.config.arch, "width_mult": model.config.width_mult, "weights": args.weights}
    results = ResultsFile(out_path, kind, info) if out_path is not None and kind else None
    with Progress(
        TextColumn("classifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=errors, transient=True, disable=len(paths) < 2,
    ) as progress:  # fmt: skip
        task = progress.add_task("classifying", total=len(paths) + len(missing))

        def show(prediction: Prediction) -> None:
            if not prediction.ok:  # one line per bad file, as soon as it is found
                progress.console.print(
                    f"error: {printable(prediction.path)}: {prediction.error}", markup=False
                )
            progress.advance(task)

        predictions = predict_recorded(
            model, paths, missing, results, topk=args.topk, batch_size=args.batch_size,
            max_pixels=args.max_pixels, on_result=show,
        )  # fmt: skip
    for prediction in predictions:
        if prediction.ok:
            console.print(result_table(prediction))
    failed = sum(not p.ok for p in predictions)
    summary = f"{len(predictions)} inputs: {len(predictions) - failed} classified, {failed} failed"
    if failed:  # each failed file was named on its own line as it was found
        where = f"; all results, failures too, are in {printable(out_path)}" if out_path else ""
        errors.print(f"{summary} (named above){where}", markup=False)
        return EXIT_PARTIAL
    console.print(summary, highlight=False)
    return EXIT_OK
