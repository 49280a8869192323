"""A run's metrics as JSONL and CSV (TensorBoard optional), written as they come in.

``metrics.jsonl`` holds one JSON object per record, each with a ``kind`` ('train' every few
steps, 'epoch' after each validation); ``metrics.csv`` holds the epoch records as a table.
The plots drawn from them are in ``plots``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from mobilenets.atomic_files import atomic_write_file


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
