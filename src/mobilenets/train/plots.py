"""A run's figures: loss and accuracy curves, the confusion matrix, and sample predictions.

Drawn with matplotlib's non-interactive backend, so they work on a headless machine; matplotlib
is imported only when a figure is drawn.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mobilenets.printable import printable
from mobilenets.train.metrics_log import read_metrics


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    # A class named in a script the bundled font lacks (CJK, emoji) is drawn as boxes; the names
    # are in eval.json and the terminal table, so a warning per glyph on every plot says nothing.
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
    import matplotlib.pyplot as plt

    return plt


def plot_curves(metrics_path: Path, out: Path) -> Path:
    """Training loss and learning rate per step, validation loss and accuracy per epoch.

    Returns:
        The PNG written.
    """
    plt = _pyplot()
    records = read_metrics(metrics_path)
    steps = [r for r in records if r.get("kind") == "train"]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    loss_ax, acc_ax, lr_ax = axes
    if steps:
        loss_ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=0.8, label="train (per step)")
        lr_ax.plot([r["step"] for r in steps], [r["lr"] for r in steps])
    if epochs:
        x = [r["step"] for r in epochs]
        loss_ax.plot(x, [r["val_loss"] for r in epochs], "o-", label="validation")
        acc_ax.plot([r["epoch"] for r in epochs], [100 * r["val_top1"] for r in epochs], "o-", label="top-1")
        # A resumed run may add or drop the EMA: each curve has the epochs that recorded it.
        for key, style, label in (("val_top5", "s--", "top-5"), ("ema_top1", "^-", "EMA top-1")):
            having = [r for r in epochs if key in r]
            if having:
                acc_ax.plot([r["epoch"] for r in having], [100 * r[key] for r in having], style, label=label)
        best = max(100 * r["val_top1"] for r in epochs)
        acc_ax.set_title(f"validation accuracy (best top-1 {best:.2f}%)")
    # Log scale: an early validation spike (BatchNorm statistics still settling) would flatten the rest.
    loss_ax.set(xlabel="step", ylabel="cross-entropy", title="loss", yscale="log")
    acc_ax.set(xlabel="epoch", ylabel="%")
    lr_ax.set(xlabel="step", ylabel="learning rate", title="learning rate")
    for ax in (loss_ax, acc_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        ax.grid(alpha=0.3)
    lr_ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_confusion(confusion: np.ndarray, classes: list[str], out: Path, title: str = "") -> Path:
    """The confusion matrix as a heat map, rows normalized to recall, with the counts written in.

    Returns:
        The PNG written.
    """
    plt = _pyplot()
    n = len(classes)
    totals = confusion.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(totals > 0, confusion / np.maximum(totals, 1), 0.0)
    side = min(20.0, max(5.0, 0.45 * n + 2))
    fig, ax = plt.subplots(figsize=(side, side))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ticks = np.arange(n)
    # Folder names may hold undecodable bytes or control characters, which matplotlib refuses.
    shown = [printable(name) for name in classes] if n <= 50 else [""] * n  # beyond 50: unreadable anyway
    ax.set_xticks(ticks, shown, rotation=90 if n > 10 else 0)
    ax.set_yticks(ticks, shown)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if confusion[i, j]:
                    color = "white" if rates[i, j] > 0.5 else "black"
                    ax.text(
                        j, i, str(int(confusion[i, j])), ha="center", va="center", color=color, fontsize=8
                    )
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_predictions(samples: list[tuple[np.ndarray, str, str, float]], out: Path) -> Path:
    """A row of images titled with the true and predicted class (red when wrong) and the probability.

    Args:
        samples: (image (H, W, 3) uint8, true label, predicted label, probability) tuples.
        out: the PNG to write.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(samples), figsize=(1.6 * len(samples), 2.0), squeeze=False)
    for ax, (image, true, guess, prob) in zip(axes[0], samples, strict=True):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(
            f"true {printable(true)}\npred {printable(guess)} ({prob:.2f})",
            fontsize=8,
            color="black" if true == guess else "red",
        )
        ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
