"""``mobilenets eval``: top-1, top-5 and per-class accuracy of a weight file, and a confusion-matrix PNG.

mobilenets eval --data digits --weights runs/demo/best.safetensors
mobilenets eval --data photos/ --weights model.safetensors --out eval/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mobilenets.cli.failures import EXIT_OK, EXIT_PARTIAL
from mobilenets.evaluate import EvalResult
from mobilenets.output_paths import check_output_file
from mobilenets.printable import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="accuracy of a weight file on a labelled dataset")
    parser.add_argument("--data", required=True, help="'digits' (its held-out split) or an ImageFolder path")
    parser.add_argument(
        "--weights",
        required=True,
        help="a mobilenets .safetensors file, or a torchvision/timm/Keras file (converted in memory)",
    )
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


def run_eval(
    data: str,
    weights: str | Path,
    *,
    split: str = "val",
    batch_size: int = 64,
    workers: int = 0,
    device: str = "auto",
) -> EvalResult:
    """Evaluate a weight file on ``data`` with the preprocessing stored in the file.

    Args:
        data: 'digits' (its held-out 25%) or an ImageFolder path: ``val/`` if the folder has
            one (with ``split='val'``), otherwise every image under it.
        weights: a mobilenets ``.safetensors`` file, or a foreign one (see ``load_weights``).

    Returns:
        The confusion matrix, top-1 / top-5 / per-class accuracy, and the skipped images.

    Raises:
        ValueError: the data is missing or its classes do not match the weights' labels.
    """
    from mobilenets.augment import Normalize
    from mobilenets.data import DIGITS, ImageFolder, Sample, check_classes, class_folders, make_loader
    from mobilenets.distributed import resolve_device
    from mobilenets.evaluate import evaluate
    from mobilenets.pretrained import load_weights

    target = resolve_device(device)
    model = load_weights(weights).to(target)
    if model.config.num_classes == 0 or model.config.features_only:
        raise ValueError(
            f"{weights}: the model has no classifier (num_classes=0 or features_only), so there is "
            "no accuracy to measure; use weights of a classifier"
        )
    unreadable: dict[str, str] = {}
    size = model.preprocess.input_size[-1]
    if data == DIGITS:
        from mobilenets.data import build_datasets

        dataset = build_datasets(DIGITS, size).val
    else:
        root = Path(data)
        if not root.is_dir():
            raise ValueError(f"data directory {root} does not exist; pass an ImageFolder path or 'digits'.")
        split_layout = (root / "train").is_dir() and (root / "val").is_dir()
        if split == "val":
            folders = [root / "val"] if (root / "val").is_dir() else [root]
        else:  # every image: both halves of a train/ + val/ layout, never 'train' as a class
            folders = [root / "train", root / "val"] if split_layout else [root]
        files: dict[str, list[Path]] = {}
        for folder in folders:
            for name, found in class_folders(folder, unreadable).items():
                files.setdefault(name, []).extend(found)
        check_classes(folders[-1], files, unreadable)
        for path, reason in unreadable.items():  # as ImageFolder reports the ones found decoding
            print(f"skipping unreadable image {printable(path)}: {reason}", file=sys.stderr, flush=True)
        classes = sorted(files)
        samples = [Sample(p, i) for i, name in enumerate(classes) for p in files[name]]
        dataset = ImageFolder(samples, classes, size, crop_pct=model.preprocess.crop_pct)
    classes = list(dataset.classes)
    if model.labels is not None and list(model.labels) != classes:
        raise ValueError(
            f"the weights' classes {model.labels[:5]}... differ from the data's {classes[:5]}...; "
            "evaluate on data with the same class folders as training."
        )
    if model.config.num_classes != len(classes):
        raise ValueError(
            f"the weights have {model.config.num_classes} outputs but the data has {len(classes)} classes."
        )
    loader = make_loader(dataset, batch_size, train=False, workers=workers)
    normalize = Normalize(model.preprocess.mean, model.preprocess.std).to(target)
    result = evaluate(model, loader, len(classes), normalize=normalize, device=target, classes=classes)
    result.skipped = {**unreadable, **dataset.skipped}
    return result


def report_table(result: EvalResult) -> Table:
    table = Table(
        title=f"top-1 {100 * result.top1:.2f}%   top-5 {100 * result.top5:.2f}%   ({result.count} images)"
    )
    for column in ("class", "images", "correct", "accuracy"):
        table.add_column(column, justify="left" if column == "class" else "right")
    totals = result.confusion.sum(axis=1)
    for i, name in enumerate(result.classes):
        accuracy = result.per_class[i]
        shown = "-" if totals[i] == 0 else f"{100 * accuracy:.2f}%"
        table.add_row(name, str(int(totals[i])), str(int(result.confusion[i, i])), shown)
    return table


def run(args: argparse.Namespace) -> int:
    from mobilenets.checkpoint import atomic_write_bytes
    from mobilenets.records import plot_confusion

    if args.batch_size < 1 or args.workers < 0:
        raise ValueError(f"--batch-size {args.batch_size} / --workers {args.workers}: give >= 1 / >= 0")
    # Default: a folder of its own beside the weights, so a training run's confusion.png stays.
    weights = Path(args.weights)
    out = Path(args.out) if args.out else weights.parent / f"eval-{weights.stem}"
    if out.exists() and not out.is_dir():  # refused before the work, not after
        raise ValueError(f"--out {out}: is a file; give a folder for confusion.png and eval.json")
    if out.is_dir():
        check_output_file(out / "eval.json", (".json",), "--out")
        check_output_file(out / "confusion.png", (".png",), "--out")
    result = run_eval(
        args.data,
        args.weights,
        split=args.split,
        batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
    )
    console = Console(soft_wrap=True)
    console.print(report_table(result))
    out.mkdir(parents=True, exist_ok=True)
    png = plot_confusion(
        result.confusion, result.classes, out / "confusion.png", f"{Path(args.weights).name}"
    )
    report = {
        **result.summary(),
        "per_class": {name: result.per_class[i] for i, name in enumerate(result.classes)},
        "confusion": result.confusion.tolist(),
        "skipped": result.skipped,
    }
    text = json.dumps(report, indent=2, default=float, ensure_ascii=False) + "\n"
    atomic_write_bytes(out / "eval.json", text.encode("utf-8", "backslashreplace"))
    console.print(
        f"top-1 {100 * result.top1:.2f}%  top-5 {100 * result.top5:.2f}%  on {result.count} "
        f"images; confusion matrix: {png}; report: {out / 'eval.json'}",
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
