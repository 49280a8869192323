"""Classifying image files: batching, top-k, and per-file errors that never stop the run.

Each file is read with ``images.load_image`` (EXIF orientation, any mode, decompression-bomb
limit) and prepared with the model's own ``preprocess`` config, so the numbers match the source
framework's. A file that cannot be read becomes a ``Prediction`` with an ``error``; a batch
that fails as a whole marks only its own files. Results of files that worked are never lost.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mobilenets.data.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    ImageLoadError,
    load_image,
    not_a_file_reason,
    scan_images,
    system_reason,
)
from mobilenets.models.mobilenet import MobileNet
from mobilenets.models.preprocess import preprocess_image


@dataclass(frozen=True)
class ClassScore:
    """One of an image's top classes."""

    index: int
    label: str
    probability: float


@dataclass
class Prediction:
    """The result for one file: its top classes, or why it failed."""

    path: str
    top: list[ClassScore] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def collect_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[Prediction]]:
    """Expand files and folders into image paths.

    Args:
        inputs: files (taken as given, whatever their suffix) and folders (searched
            recursively for image suffixes).

    Returns:
        ``(paths, failures)``: the files to classify, and a failed ``Prediction`` for every
        input that does not exist.
    """
    paths: list[Path] = []
    failures: list[Prediction] = []
    seen: set[str] = set()

    def add(path: Path) -> None:  # a file named twice (or via a folder and by name) counts once
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            paths.append(path)

    for item in map(Path, inputs):
        if item.is_dir():
            try:
                found, not_files = scan_images(item)
            except OSError as error:  # a folder that cannot be listed is no empty folder
                failures.append(Prediction(str(item), error=system_reason(error, folder=True) or str(error)))
                continue
            # A broken link or a folder named like an image is reported, never skipped silently.
            failures += [Prediction(str(path), error=reason) for path, reason in not_files.items()]
            if not found and not not_files:
                failures.append(
                    Prediction(str(item), error=f"folder has no images ({', '.join(IMAGE_SUFFIXES)})")
                )
            for path in found:
                add(path)
        elif item.is_file():
            add(item)
        else:
            failures.append(Prediction(str(item), error=not_a_file_reason(item) or "no such file or folder"))
    return paths, failures


def _label(model: MobileNet, index: int) -> str:
    labels = model.labels
    return labels[index] if labels is not None and index < len(labels) else f"class {index}"


def _top_classes(model: MobileNet, logits: torch.Tensor, topk: int) -> list[list[ClassScore]]:
    probabilities = logits.float().softmax(dim=1)
    values, indices = probabilities.topk(min(topk, probabilities.shape[1]), dim=1)
    return [
        [ClassScore(int(i), _label(model, int(i)), float(p)) for p, i in zip(row_p, row_i, strict=True)]
        for row_p, row_i in zip(values, indices, strict=True)
    ]


def predict_files(
    model: MobileNet,
    paths: Sequence[str | Path],
    topk: int = 5,
    batch_size: int = 16,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_file_done: Callable[[Prediction], None] | None = None,
) -> list[Prediction]:
    """Classify files in batches; one ``Prediction`` per path, in the given order.

    Args:
        model: a classifier (``num_classes > 0``) with ``preprocess`` set.
        paths: image files.
        topk: how many classes to keep per image.
        batch_size: images per forward pass.
        max_pixels: larger images are refused as possible decompression bombs.
        on_file_done: called once per file as soon as its result is known (progress bars).

    Returns:
        The predictions; failed files carry ``error`` instead of ``top``.
    """
    if model.config.num_classes == 0 or model.config.features_only:
        raise ValueError("this model has no classifier (num_classes=0 or features_only); nothing to predict")
    if topk < 1 or batch_size < 1:
        raise ValueError(f"topk={topk} and batch_size={batch_size} must both be >= 1")
    model.eval()
    results: dict[int, Prediction] = {}

    def finish(index: int, prediction: Prediction) -> None:
        results[index] = prediction
        if on_file_done is not None:
            on_file_done(prediction)

    pending: list[tuple[int, torch.Tensor]] = []
    for index, path in enumerate(paths):
        try:
            image = load_image(path, max_pixels=max_pixels)
            pending.append((index, preprocess_image(image, model.preprocess)))
        except ImageLoadError as error:
            finish(index, Prediction(str(path), error=error.reason))
        except (OSError, ValueError) as error:
            finish(index, Prediction(str(path), error=f"could not prepare image ({error})"))
        if len(pending) == batch_size or (index == len(paths) - 1 and pending):
            _run_batch(model, pending, paths, topk, finish)
            pending = []
    return [results[i] for i in range(len(paths))]


def _run_batch(
    model: MobileNet,
    pending: list[tuple[int, torch.Tensor]],
    paths: Sequence[str | Path],
    topk: int,
    finish: Callable[[int, Prediction], None],
) -> None:
    try:
        with torch.inference_mode():
            logits = model(torch.stack([tensor for _, tensor in pending]))
        assert isinstance(logits, torch.Tensor)
        tops = _top_classes(model, logits, topk)
        finite = torch.isfinite(logits).all(dim=1).tolist()
    except (RuntimeError, ValueError, MemoryError) as error:  # e.g. out of memory: only this batch is lost
        for index, _ in pending:
            finish(index, Prediction(str(paths[index]), error=f"model failed on this batch ({error})"))
        return
    for (index, _), top, ok in zip(pending, tops, finite, strict=True):
        if ok:
            finish(index, Prediction(str(paths[index]), top=top))
        else:  # a probability of NaN is no answer: say so rather than print it
            finish(index, Prediction(str(paths[index]), error="the model's output is NaN or infinite"))
