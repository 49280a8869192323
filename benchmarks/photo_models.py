"""Trained models for the deployment benchmarks: each architecture, default recipe, real photos.

Checking a bf16 or int8 path needs a trained model and real images: a random network's top
classes sit so close together that any rounding reorders them. No pretrained weights can be
downloaded here, so each architecture is trained with mobilenets' default recipe on the
``photos`` set of ``unseen_datasets.py`` (8 classes: which scikit-image photo a random crop came
from; 480 training and 160 validation images) at 64 px, and cached under ``runs/``.

The recipe was not tuned on this set (``unseen_data.py`` measured it there as unseen data), and
the deployment code was not tuned on these models.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mobilenets.train import fit
from mobilenets.train.config import TrainConfig
from unseen_datasets import ensure_dataset

REPO = Path(__file__).resolve().parent.parent
TRAIN_RESOLUTION, EPOCHS = 64, 15
# At a larger test size, from the 64-px model: the recipe's default length (TrainConfig.epochs).
# Three epochs left some models short of converged (V4 Conv-S, training seed 1: 76% test
# accuracy), with many images on which the top two classes nearly tie.
FINE_TUNE_EPOCHS = 10


def photos_dataset(root: Path = REPO / "runs" / "unseen_data" / "data") -> Path:
    """The ``photos`` ImageFolder (train/ and val/), built if missing (seed 0, byte-stable)."""
    ensure_dataset("photos", root / "photos")
    return root / "photos"


def photo_model(
    arch: str,
    resolution: int = TRAIN_RESOLUTION,
    root: Path = REPO / "runs" / "deploy_models",
    threads: int = 2,
    seed: int = 0,
    then_epochs: int = 0,
) -> Path:
    """``arch`` trained on the photos set with the default recipe at ``resolution``; the weights' path.

    At 64 px it is trained from scratch; at any other size it is the 64-px model fine-tuned there.
    Another ``seed`` trains another model (its own folder), to see how results move between runs.
    ``then_epochs`` more epochs of the default recipe from that model make another (does a
    failing model pass once trained longer?).
    """
    if then_epochs:
        start = photo_model(arch, resolution, root, threads, seed)
        out = start.parent.with_name(f"{start.parent.name}-then{then_epochs}ep")
        weights = out / "final.safetensors"
        return (
            weights if weights.exists() else _train(out, arch, resolution, then_epochs, start, threads, seed)
        )
    fine_tuned = root / f"{arch}-{resolution}px-{FINE_TUNE_EPOCHS}ep"
    out = root / arch if resolution == TRAIN_RESOLUTION else fine_tuned
    out = out if seed == 0 else out.with_name(f"{out.name}-seed{seed}")
    weights = out / "final.safetensors"
    if weights.exists():
        return weights
    if resolution == TRAIN_RESOLUTION:
        return _train(out, arch, resolution, EPOCHS, None, threads, seed)
    start = photo_model(arch, TRAIN_RESOLUTION, root, threads, seed)
    return _train(out, arch, resolution, FINE_TUNE_EPOCHS, start, threads, seed)


def _train(
    out: Path, arch: str, resolution: int, epochs: int, start: Path | None, threads: int, seed: int
) -> Path:
    """Train ``arch`` on the photos set with the default recipe into ``out`` (from ``start``'s
    weights if given); the weights' path."""
    config = TrainConfig(
        data=str(photos_dataset()),
        model=arch,
        resolution=resolution,
        epochs=epochs,
        pretrained=None if start is None else str(start),
        out=str(out),
        progress=False,
        threads=threads,
        overwrite=True,
        seed=seed,
    )
    fit(config)
    return out / "final.safetensors"
