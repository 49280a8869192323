"""Accuracy of a weights file on a labelled dataset, with the preprocessing stored in the file.

What ``mobilenets eval`` and the demo's held-out check run: the model from any source
(``create_model``), the data from 'digits' or an image folder, unreadable images skipped and
listed, and a report (``eval.json`` and ``confusion.png``) that ``write_eval_report`` writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.table import Table

from mobilenets.atomic_files import atomic_write_bytes
from mobilenets.data.augment import Normalize
from mobilenets.data.datasets import (
    DIGITS,
    ImageFolder,
    Sample,
    build_datasets,
    check_classes,
    class_folders,
    make_loader,
)
from mobilenets.printable import printable
from mobilenets.train.distributed import resolve_device
from mobilenets.train.evaluate import EvalResult, evaluate
from mobilenets.train.plots import plot_confusion
from mobilenets.weights.create import create_model


def evaluate_weights(
    data: str,
    weights: str | Path,
    *,
    model_name: str | None = None,
    split: str = "val",
    batch_size: int = 64,
    workers: int = 0,
    device: str = "auto",
) -> EvalResult:
    """Evaluate a weight file on ``data`` with the preprocessing stored in the file.

    Args:
        data: 'digits' (its held-out 25%) or an ImageFolder path: ``val/`` if the folder has
            one (with ``split='val'``), otherwise every image under it.
        weights: a mobilenets ``.safetensors`` file, a foreign one, or an official source
            (see ``create_model``).
        model_name: the model the weights must be (needed with an official source).

    Returns:
        The confusion matrix, top-1 / top-5 / per-class accuracy, and the skipped images.

    Raises:
        ValueError: the data is missing or its classes do not match the weights' labels.
    """
    target = resolve_device(device)
    model = create_model(model_name, weights=weights).to(target)
    if model.config.num_classes == 0 or model.config.features_only:
        raise ValueError(
            f"{weights}: the model has no classifier (num_classes=0 or features_only), so there is "
            "no accuracy to measure; use weights of a classifier"
        )
    unreadable: dict[str, str] = {}
    size = model.preprocess.input_size[-1]
    if data == DIGITS:
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
        classes = _label_order(files, model.labels)
        if split == "val" and folders == [root]:
            # A folder without val/ may be the very images the model was trained on (training
            # holds out a random share of them): the figure is then not a held-out accuracy.
            print(
                f"note: {printable(root)} has no val/ folder: scoring every image under it; if "
                "the model was trained on this folder, these include its training images",
                file=sys.stderr,
                flush=True,
            )
        for path, reason in unreadable.items():  # as ImageFolder reports the ones found decoding
            print(f"skipping unreadable image {printable(path)}: {reason}", file=sys.stderr, flush=True)
        output = {name: i for i, name in enumerate(classes)}
        samples = [Sample(p, output[name]) for name in sorted(files) for p in files[name]]
        dataset = ImageFolder(samples, classes, size, crop_pct=model.preprocess.crop_pct)
    classes = list(dataset.classes)
    if model.config.num_classes != len(classes):
        raise ValueError(
            f"the weights have {model.config.num_classes} outputs but the data has {len(classes)} classes."
        )
    loader = make_loader(dataset, batch_size, train=False, workers=workers)
    normalize = Normalize(model.preprocess.mean, model.preprocess.std).to(target)
    result = evaluate(model, loader, len(classes), normalize=normalize, device=target, classes=classes)
    result.skipped = {**unreadable, **dataset.skipped}
    return result


def _label_order(files: dict[str, list[Path]], labels: list[str] | None) -> list[str]:
    """The classes in the order of the model's outputs: its labels when it has them.

    A folder may hold only some of the labels (a test set without one class): those are scored
    against all of the model's outputs, and the missing ones show no images. A class folder that
    is not one of the labels cannot be scored, and is named.
    """
    if labels is None:
        return sorted(files)
    unknown = sorted(set(files) - set(labels))
    if unknown:
        raise ValueError(
            f"class folders {_names(unknown)} are not among the weights' {len(labels)} classes "
            f"({_names(labels)}); "
            "evaluate on folders named after the classes the model was trained on"
        )
    missing = [name for name in labels if name not in files]
    if missing:
        print(
            f"note: no images of {len(missing)} of the weights' {len(labels)} classes "
            f"({_names(missing)}); the others are scored against "
            "all of the model's outputs",
            file=sys.stderr,
            flush=True,
        )
    return list(labels)


def _names(names: list[str], shown: int = 12) -> str:
    """``names`` for one line: all of a short list, the first ``shown`` and a count of a long one."""
    listed = ", ".join(repr(printable(name)) for name in names[:shown])
    return listed if len(names) <= shown else f"{listed} and {len(names) - shown:,} more"


def eval_table(result: EvalResult) -> Table:
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


def write_eval_report(result: EvalResult, out: Path, title: str) -> tuple[Path, Path]:
    """``confusion.png`` and ``eval.json`` (accuracies, per class, confusion, skipped) in ``out``.

    Returns:
        The two paths written.
    """
    out.mkdir(parents=True, exist_ok=True)
    png = plot_confusion(result.confusion, result.classes, out / "confusion.png", title)
    report = {
        **result.summary(),
        "per_class": {name: result.per_class[i] for i, name in enumerate(result.classes)},
        "confusion": result.confusion.tolist(),
        "skipped": result.skipped,
    }
    text = json.dumps(report, indent=2, default=float, ensure_ascii=False) + "\n"
    return png, atomic_write_bytes(out / "eval.json", text.encode("utf-8", "backslashreplace"))
