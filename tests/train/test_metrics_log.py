"""``train.metrics_log`` (metrics.jsonl + metrics.csv, resume truncation) and ``train.plots`` (PNGs)."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mobilenets.train.metrics_log import MetricsLogger, read_metrics
from mobilenets.train.plots import plot_confusion, plot_curves, plot_predictions


def train_record(step: int, loss: float = 1.0) -> dict[str, Any]:
    return {"kind": "train", "step": step, "epoch": (step - 1) // 20, "loss": loss, "lr": 0.01 * step}


def epoch_record(epoch: int, step: int, **extra: float) -> dict[str, Any]:
    return {
        "kind": "epoch",
        "step": step,
        "epoch": epoch,
        "train_loss": 1.0 / epoch,
        "val_loss": 2.0 / epoch,
        "val_top1": 0.25 * epoch,
        "val_top5": 0.5,
        **extra,
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def jsonl_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the log ---------------------------------------------------------------------------------------
def test_records_go_to_jsonl_in_order_and_epochs_to_the_csv(tmp_path: Path) -> None:
    run = tmp_path / "new" / "run"  # created by the logger
    logger = MetricsLogger(run)
    written = [train_record(10), train_record(20), epoch_record(1, 20), train_record(30), epoch_record(2, 40)]
    for record in written:
        logger.log(record)
    logger.close()
    assert jsonl_lines(run / "metrics.jsonl") == written
    rows = read_csv(run / "metrics.csv")
    assert list(rows[0]) == ["step", "epoch", "train_loss", "val_loss", "val_top1", "val_top5"]  # no 'kind'
    assert [(int(r["epoch"]), int(r["step"])) for r in rows] == [(1, 20), (2, 40)]
    assert float(rows[1]["train_loss"]) == 0.5 and float(rows[1]["val_top1"]) == 0.5
    assert [p.name for p in run.iterdir() if p.name.endswith(".tmp")] == []


def test_a_column_that_appears_later_is_added_and_left_empty_before(tmp_path: Path) -> None:
    logger = MetricsLogger(tmp_path)
    logger.log(epoch_record(1, 10))
    logger.log(epoch_record(2, 20, ema_top1=0.75))
    rows = read_csv(tmp_path / "metrics.csv")
    assert list(rows[0])[-1] == "ema_top1"
    assert rows[0]["ema_top1"] == "" and float(rows[1]["ema_top1"]) == 0.75


def test_a_fresh_start_empties_a_previous_log(tmp_path: Path) -> None:
    first = MetricsLogger(tmp_path)
    first.log(train_record(10))
    first.log(epoch_record(1, 10))
    MetricsLogger(tmp_path)  # a new run in the same folder (--overwrite)
    assert (tmp_path / "metrics.jsonl").read_text() == ""
    assert read_csv(tmp_path / "metrics.csv") == []


def previous_run(folder: Path) -> list[dict[str, Any]]:
    """Two epochs of 20 steps, train records every 10 steps, as a run killed at step 45 leaves them."""
    records = [
        train_record(10), train_record(20), epoch_record(1, 20),
        train_record(30), train_record(40), epoch_record(2, 40), train_record(45),
    ]  # fmt: skip
    logger = MetricsLogger(folder)
    for record in records:
        logger.log(record)
    return records


def test_a_resume_drops_the_records_of_the_replayed_steps(tmp_path: Path) -> None:
    records = previous_run(tmp_path)
    logger = MetricsLogger(tmp_path, resume_step=30, resume_epoch=1)  # checkpoint at step 30
    kept = jsonl_lines(tmp_path / "metrics.jsonl")
    assert kept == [records[0], records[1], records[2], records[3]]  # steps 10, 20, epoch 1, 30
    assert [int(r["epoch"]) for r in read_csv(tmp_path / "metrics.csv")] == [1]
    logger.log(train_record(40, loss=0.123))  # the replayed step, logged once
    logger.log(epoch_record(2, 40))
    final = jsonl_lines(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in final if r["kind"] == "train"] == [10, 20, 30, 40]
    assert final[-2]["loss"] == 0.123
    assert [int(r["epoch"]) for r in read_csv(tmp_path / "metrics.csv")] == [1, 2]


def test_a_resume_at_an_epoch_end_drops_a_later_epoch_record_at_the_same_step(tmp_path: Path) -> None:
    records = previous_run(tmp_path)
    # A checkpoint written at step 40 before epoch 2's validation finished: its record goes.
    MetricsLogger(tmp_path, resume_step=40, resume_epoch=1)
    assert jsonl_lines(tmp_path / "metrics.jsonl") == records[:5]
    # Without an epoch count only the step decides.
    previous_run(tmp_path)
    MetricsLogger(tmp_path, resume_step=40)
    assert jsonl_lines(tmp_path / "metrics.jsonl") == records[:6]


def test_read_metrics_ignores_a_torn_last_line_and_a_missing_file(tmp_path: Path) -> None:
    assert read_metrics(tmp_path / "absent.jsonl") == []
    path = tmp_path / "metrics.jsonl"
    good = [train_record(10), epoch_record(1, 20)]
    path.write_text("".join(json.dumps(r) + "\n" for r in good) + '{"kind": "train", "step": 3')
    assert read_metrics(path) == good


def test_a_resume_after_a_torn_line_keeps_the_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(train_record(10)) + "\n" + '{"kind": "tra')
    MetricsLogger(tmp_path, resume_step=10)
    assert jsonl_lines(path) == [train_record(10)]  # the torn line is gone; every line parses


# -- the plots -------------------------------------------------------------------------------------
def open_png(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()  # decodes the whole file: a truncated PNG fails here
    assert image.format == "PNG"
    return image


def is_drawn(image: Image.Image) -> bool:
    """More than one colour: something was drawn on the canvas."""
    low, high = zip(*image.convert("RGB").getextrema(), strict=True)
    return max(high) - min(low) > 100


def test_the_curves_png(tmp_path: Path) -> None:
    logger = MetricsLogger(tmp_path)
    records = [train_record(10), epoch_record(1, 20, ema_top1=0.3), train_record(30)]
    for record in [*records, epoch_record(2, 40, ema_top1=0.6)]:
        logger.log(record)
    out = plot_curves(tmp_path / "metrics.jsonl", tmp_path / "figures" / "curves.png")
    assert out == tmp_path / "figures" / "curves.png"
    image = open_png(out)
    assert image.size == (15 * 110, 4 * 110)  # figsize (15, 4) at 110 dpi
    assert is_drawn(image)


def test_curves_of_a_run_whose_later_epochs_lack_the_ema_accuracy(tmp_path: Path) -> None:
    logger = MetricsLogger(tmp_path)
    for record in [
        train_record(10),
        epoch_record(1, 20, ema_top1=0.3),
        train_record(30),
        epoch_record(2, 40),
    ]:
        logger.log(record)
    out = plot_curves(tmp_path / "metrics.jsonl", tmp_path / "curves.png")
    assert open_png(out).size == (1650, 440)


def test_curves_of_a_run_without_records_still_make_a_png(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = plot_curves(tmp_path / "metrics.jsonl", tmp_path / "curves.png")
    assert open_png(out).size == (1650, 440)


@pytest.mark.parametrize(("classes", "side"), [(3, 5.0), (12, 0.45 * 12 + 2)])
def test_the_confusion_png(tmp_path: Path, classes: int, side: float) -> None:
    rng = np.random.default_rng(0)
    confusion = rng.integers(0, 5, size=(classes, classes))
    confusion[1] = 0  # a class without images: no division warning
    names = [f"class {i}" for i in range(classes)]
    out = plot_confusion(confusion, names, tmp_path / f"confusion{classes}.png", title="held out")
    image = open_png(out)
    assert image.size == (round(side * 110), round(side * 110))
    assert is_drawn(image)


def test_the_predictions_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    samples = [
        (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "3", guess, 0.9) for guess in ("3", "5", "3")
    ]
    image = open_png(plot_predictions(samples, tmp_path / "predictions.png"))
    assert image.size == (round(1.6 * 3 * 110), 2 * 110)
    assert is_drawn(image)
