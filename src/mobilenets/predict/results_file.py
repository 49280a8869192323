"""Prediction results written as they come, so an interrupt or a crash never loses finished work.

``predict --json/--csv`` opens its output before the first image is read: a path in a missing
folder, a folder, a device, a file of another kind (the suffix must be .json/.csv) or a file that
may not be written fails at once, before any work (``output_paths``). Then:

- CSV rows are appended and flushed as each batch finishes;
- the JSON document is rewritten atomically (a temporary file renamed over it) at most every
  few seconds and once more at the end, so at any moment the file is a complete, valid
  document holding every result finished up to its last write, and the final write, run by
  ``close`` on success, error, Ctrl-C or SIGTERM, holds them all.

File names need not be valid UTF-8 (Linux allows any bytes). Python carries such bytes as lone
surrogates (``os.fsdecode``); JSON writes them as ``\\udcXX`` escapes, which ``json.load``
turns back into the very string ``open()`` accepts. CSV and the console show them
backslash-escaped (``bad\\xff.jpg``), keeping those files valid UTF-8.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from mobilenets.atomic_files import atomic_write_bytes
from mobilenets.interrupts import INTERRUPTS
from mobilenets.models.mobilenet import MobileNet
from mobilenets.output_paths import check_output_file
from mobilenets.predict.classify import Prediction, predict_files
from mobilenets.printable import printable

__all__ = ["ResultsFile", "predict_recorded"]

JSON_WRITE_INTERVAL = 2.0  # seconds between rewrites: keeps a 100k-file run from rewriting per file


class ResultsFile:
    """Writes predictions to ``path`` (JSON or CSV) as they finish; ``close`` writes the rest.

    Args:
        path: the output file; checked and created at once.
        kind: 'json' or 'csv'.
        info: for JSON, fields stored beside the results (model, weights).
    """

    def __init__(self, path: Path, kind: str, info: dict[str, Any] | None = None) -> None:
        path = check_output_file(path, (f".{kind}",), f"--{kind}")
        self.path, self.kind, self.info = path, kind, info or {}
        self.records: list[dict[str, Any]] = []
        self.failed: list[str] = []
        self.complete = False
        self._last_write = 0.0
        self._csv_file: IO[str] | None = None
        if kind == "csv":
            with self._naming_errors():
                self._csv_file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
                self._csv = csv.writer(self._csv_file)
                self._csv.writerow(["path", "ok", "rank", "class_index", "label", "probability", "error"])
                self._csv_file.flush()
        else:
            self._write_json()  # creates the file now: a path that can't be written fails here

    @contextmanager
    def _naming_errors(self) -> Iterator[None]:
        """An OSError of a write (disk full, ...) names the results file, as the line must."""
        try:
            yield
        except OSError as error:
            if error.errno is None or error.filename:
                raise
            raise OSError(error.errno, error.strerror, str(self.path)) from error

    def add(self, predictions: list[Prediction]) -> None:
        """Record finished predictions (and write them, for CSV at once, for JSON every few seconds)."""
        for p in predictions:
            record: dict[str, Any] = {"path": p.path, "ok": p.ok}
            if p.ok:
                record["top"] = [vars(score) for score in p.top]
            else:
                record["error"] = p.error
                self.failed.append(p.path)
            self.records.append(record)
            if self._csv_file is not None:
                name = printable(p.path)
                # (rows are buffered; the flush below reports a failed write, named)
                if not p.ok:
                    self._csv.writerow([name, "false", "", "", "", "", p.error])
                for rank, s in enumerate(p.top, start=1):
                    self._csv.writerow([name, "true", rank, s.index, s.label, f"{s.probability:.6f}", ""])
        if self._csv_file is not None:
            with self._naming_errors():
                self._csv_file.flush()
        elif time.monotonic() - self._last_write >= JSON_WRITE_INTERVAL:
            self._write_json()

    def close(self, complete: bool) -> None:
        """Write everything recorded; ``complete`` says whether every input was processed."""
        self.complete = complete
        if self._csv_file is not None:
            csv_file, self._csv_file = self._csv_file, None
            with self._naming_errors():
                csv_file.close()
        elif self.kind == "json":
            self._write_json()

    def _write_json(self) -> None:
        document = {**self.info, "complete": self.complete, "results": self.records, "failed": self.failed}
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        # Lone surrogates (undecodable file names) become \udcXX escapes: valid JSON and UTF-8.
        atomic_write_bytes(self.path, text.encode("utf-8", "backslashreplace"))
        self._last_write = time.monotonic()


def predict_recorded(
    model: MobileNet,
    paths: Sequence[Path],
    missing: Sequence[Prediction],
    results: ResultsFile | None,
    *,
    topk: int,
    batch_size: int,
    max_pixels: int,
    on_result: Callable[[Prediction], None],
) -> list[Prediction]:
    """``predict_files``, with every result handed to ``on_result`` and ``results`` as it finishes.

    The inputs that could not be found (``missing``) are results too, reported first. Whatever
    ends the run (success, an error, Ctrl-C, SIGTERM), ``results`` is closed holding every
    finished result; an interrupt is raised again with how many inputs finished.

    Returns:
        The predictions, missing inputs first, then the files in order.
    """
    predictions: list[Prediction] = []

    def done(prediction: Prediction) -> None:
        predictions.append(prediction)
        if results is not None:
            results.add([prediction])
        on_result(prediction)

    complete = False
    try:
        for prediction in missing:
            done(prediction)
        predict_files(model, paths, topk, batch_size, max_pixels, done)
        complete = True
    except INTERRUPTS as interrupt:
        where = f"; their results are in {printable(results.path)}" if results is not None else ""
        raise type(interrupt)(
            f"{len(predictions)} of {len(paths) + len(missing)} inputs finished{where}"
        ) from None
    finally:
        if results is not None:
            results.close(complete)
    return predictions
