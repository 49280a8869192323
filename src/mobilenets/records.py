"""What a run leaves behind: metrics as JSONL and CSV (TensorBoard optional), and the PNG plots.

``metrics.jsonl`` holds one JSON object per record, each with a ``kind`` ('train' every few
steps, 'epoch' after each validation); ``metrics.csv`` holds the epoch records as a table.
Plots are drawn with matplotlib's non-interactive backend, so they work on a headless machine.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mobilenets.checkpoint import atomic_write_file


class MetricsLogger:
    """Appends records to ``run_dir/metrics.jsonl`` (and ``metrics.csv``, TensorBoard).

    Args:
        run_dir: the run folder.
        tensorboard: also write TensorBoard event files under ``run_dir/tensorboard``.
        resume_step: when resuming, drop train records written after this global step (the
            steps being replayed) so the log has no duplicates.
        resume_epoch: likewise, drop epoch records after this many completed epochs.
    """

    def __init__(
        self,
        run_dir: Path,
        tensorboard: bool = False,
        resume_step: int | None = None,
        resume_epoch: int | None = None,
    ) -> None:
        self.jsonl = run_dir / "metrics.jsonl"
        self.csv = run_dir / "metrics.csv"
        self.writer: Any = None
        if tensorboard:  # checked before any file is written: a refusal leaves the folder as it was
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ImportError(
                    "--tensorboard needs the tensorboard package: pip install tensorboard"
                ) from None
            self.writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step)
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.jsonl.write_text("")
        else:
            last_epoch = resume_epoch if resume_epoch is not None else 10**9
            kept = [
                r
                for r in read_metrics(self.jsonl)
                if r.get("step", 0) <= resume_step and (r.get("kind") != "epoch" or r["epoch"] <= last_epoch)
            ]
            self.jsonl.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self._rewrite_csv()

    def log(self, record: dict[str, Any]) -> None:
        """Append one record (needs 'kind' and 'step')."""
        with self.jsonl.open("a") as file:
            file.write(json.dumps(record) + "\n")
        if record["kind"] == "epoch":
            self._rewrite_csv()
        if self.writer is not None:
            for key, value in record.items():
                if key not in ("kind", "step", "epoch") and isinstance(value, int | float):
                    self.writer.add_scalar(f"{record['kind']}/{key}", value, record["step"])

    def _rewrite_csv(self) -> None:
        epochs = [r for r in read_metrics(self.jsonl) if r.get("kind") == "epoch"]
        columns: list[str] = []
        for record in epochs:
            columns += [k for k in record if k not in columns and k != "kind"]

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(epochs)

        atomic_write_file(self.csv, write)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``; a torn last line (a killed run) is ignored."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
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
        if "val_top5" in epochs[0]:
            acc_ax.plot(
                [r["epoch"] for r in epochs], [100 * r["val_top5"] for r in epochs], "s--", label="top-5"
            )
        if "ema_top1" in epochs[0]:
            acc_ax.plot(
                [r["epoch"] for r in epochs], [100 * r["ema_top1"] for r in epochs], "^-", label="EMA top-1"
            )
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
    shown = classes if n <= 50 else [""] * n  # beyond 50 classes the names are unreadable anyway
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
            f"true {true}\npred {guess} ({prob:.2f})", fontsize=8, color="black" if true == guess else "red"
        )
        ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
