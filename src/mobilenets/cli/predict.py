"""``mobilenets predict IMAGE_OR_DIR...``: top-k ImageNet classes for image files and folders.

Unreadable files (truncated, empty, not an image, too many pixels) get a one-line error and
the run goes on. Exit code 0 when every file worked, 1 when some failed (the summary names
them), 2 for usage errors.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mobilenets.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE
from mobilenets.hub import WeightsDownloadError
from mobilenets.images import DEFAULT_MAX_PIXELS
from mobilenets.model import MobileNet
from mobilenets.predict import (
    Prediction,
    collect_inputs,
    predict_files,
    predictions_to_csv,
    predictions_to_json,
)

OFFICIAL = ("torchvision", "timm", "keras")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help="classify images with pretrained or converted weights")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files and folders")
    parser.add_argument(
        "--weights",
        required=True,
        help="a mobilenets .safetensors file, a torchvision/timm/Keras file, or "
        "torchvision|timm|keras for the official weights of --model",
    )
    parser.add_argument("--model", help="model name; needed with official weights (default: mobilenet_v2)")
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


def load_predictor(weights: str, model_name: str | None) -> MobileNet:
    """The model for ``--weights`` / ``--model``."""
    from mobilenets.registry import create_model
    from mobilenets.weights import load_model

    if weights.partition(":")[0] in OFFICIAL and not Path(weights).exists():
        return create_model(model_name or "mobilenet_v2", weights=weights)
    if model_name:
        return create_model(model_name, weights=weights)
    path = Path(weights)
    if path.suffix == ".safetensors":
        try:
            return load_model(path)
        except ValueError as error:
            if "without mobilenets metadata" not in str(error):
                raise
    from mobilenets.convert import convert_file
    from mobilenets.imagenet import NUM_IMAGENET_CLASSES, imagenet_labels

    model = convert_file(path).build()
    if model.config.num_classes == NUM_IMAGENET_CLASSES:
        model.labels = imagenet_labels()
    return model


def result_table(prediction: Prediction) -> Table:
    table = Table(title=prediction.path, title_justify="left", show_edge=False)
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
    if args.topk < 1 or args.batch_size < 1 or args.max_pixels < 1:
        errors.print("mobilenets predict: error: --topk, --batch-size and --max-pixels must be >= 1")
        return EXIT_USAGE
    if not Path(args.weights).exists() and args.weights.partition(":")[0] not in OFFICIAL:
        errors.print(
            f"mobilenets predict: error: --weights {args.weights!r} is neither a file nor one of "
            f"{', '.join(OFFICIAL)}",
            highlight=False,
        )
        return EXIT_USAGE
    try:
        model = load_predictor(args.weights, args.model)
    except WeightsDownloadError as error:
        errors.print(f"mobilenets predict: error: {error}", highlight=False, soft_wrap=True)
        return EXIT_PARTIAL
    paths, missing = collect_inputs(args.inputs)
    predictions: list[Prediction] = []
    try:
        with Progress(
            TextColumn("classifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=errors, transient=True, disable=len(paths) < 2,
        ) as progress:  # fmt: skip
            task = progress.add_task("classifying", total=len(paths))

            def done(prediction: Prediction) -> None:
                progress.advance(task)
                if not prediction.ok:  # one line per bad file, as soon as it is found
                    progress.console.print(f"error: {prediction.path}: {prediction.error}", highlight=False)

            predictions = predict_files(model, paths, args.topk, args.batch_size, args.max_pixels, done)
    finally:
        # Even if the run is interrupted, what finished is written.
        predictions = missing + predictions
        info = {"model": model.config.arch, "width_mult": model.config.width_mult, "weights": args.weights}
        if args.json:
            predictions_to_json(predictions, args.json, info)
        if args.csv:
            predictions_to_csv(predictions, args.csv)
    for prediction in missing:
        errors.print(f"error: {prediction.path}: {prediction.error}", highlight=False)
    for prediction in predictions:
        if prediction.ok:
            console.print(result_table(prediction))
    failed = [p.path for p in predictions if not p.ok]
    worked = len(predictions) - len(failed)
    summary = f"{len(predictions)} inputs: {worked} classified, {len(failed)} failed"
    if failed:
        errors.print(f"{summary}: {', '.join(failed)}", highlight=False, soft_wrap=True)
        return EXIT_PARTIAL
    console.print(summary, highlight=False)
    return EXIT_OK
