"""Progress bars for training: loss, learning rate, images per second and time left.

One bar per epoch (rich), plus one summary line per epoch that stays on screen. When output is
not a terminal (a log file, CI) rich draws no live bar, so a plain line is printed every
``line_every`` steps instead: a long job in a log still shows it is alive.
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class TrainProgress:
    """Progress of a run, shown by rank 0.

    Args:
        console: where to draw.
        epochs: the run's number of epochs.
        enabled: False draws nothing (non-zero ranks, ``--no-progress``).
        line_every: steps between plain lines when the console is not a terminal.
    """

    def __init__(self, console: Console, epochs: int, enabled: bool = True, line_every: int = 50) -> None:
        self.console, self.epochs, self.enabled = console, epochs, enabled
        self.line_every = line_every
        self.bar: Progress | None = None
        self.task: Any = None
        self.images = 0
        self.started = 0.0
        self.step = 0
        self.total = 0
        self.first = 0
        self.epoch = 0

    def start_epoch(self, epoch: int, steps: int, done: int = 0) -> None:
        self.images, self.started, self.step, self.total = 0, time.perf_counter(), done, steps
        self.first = done  # a resumed epoch starts part-way
        self.epoch = epoch
        if not self.enabled or not self.console.is_terminal:
            return
        if self.bar is None:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
        self.task = self.bar.add_task(
            f"epoch {epoch + 1}/{self.epochs}", total=steps, completed=done, stats=""
        )

    def advance(self, loss: float, lr: float, images: int) -> None:
        """One step done: ``images`` over all processes."""
        self.images += images
        self.step += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.images / elapsed if elapsed > 0 else 0.0
        stats = f"loss {loss:.4f}  lr {lr:.2e}  {rate:,.0f} img/s"
        if self.bar is not None:
            self.bar.update(self.task, advance=1, stats=stats)
        elif self.step % self.line_every == 0 or self.step == self.total:
            eta = (self.total - self.step) * elapsed / max(1, self.step - self.first)
            self.console.print(
                f"epoch {self.epoch + 1}/{self.epochs} step {self.step}/{self.total}  {stats}  "
                f"ETA {format_duration(eta)}"
            )

    def end_epoch(self, record: dict[str, Any], is_best: bool) -> None:
        if not self.enabled:
            return
        if self.bar is not None and self.task is not None:
            self.bar.remove_task(self.task)
        elapsed = time.perf_counter() - self.started
        rate = self.images / elapsed if elapsed > 0 else 0.0
        ema = f"  EMA top-1 {100 * record['ema_top1']:.2f}%" if "ema_top1" in record else ""
        self.console.print(
            f"epoch {record['epoch']:>3}/{self.epochs}  train loss {record['train_loss']:.4f}  "
            f"val loss {record['val_loss']:.4f}  top-1 {100 * record['val_top1']:.2f}%  "
            f"top-5 {100 * record['val_top5']:.2f}%{ema}  {rate:,.0f} img/s  {elapsed:.1f}s"
            + ("  *best*" if is_best else "")
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def format_duration(seconds: float) -> str:
    """'1:02:03' or '2:03'; '?' for an unknown (infinite or NaN) time."""
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
