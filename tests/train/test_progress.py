"""``train.progress``: durations, plain progress lines in a log, and the per-epoch summary.

The clock is replaced by one the test sets, so rates and times left are exact numbers.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from mobilenets.train import progress
from mobilenets.train.progress import TrainProgress, format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00"),
        (0.4, "0:00"),
        (7, "0:07"),
        (59.4, "0:59"),
        (59.6, "1:00"),
        (61, "1:01"),
        (600, "10:00"),
        (3599, "59:59"),
        (3600, "1:00:00"),
        (3723, "1:02:03"),  # 1 h 2 min 3 s
        (86_400 + 61, "24:01:01"),
        (float("inf"), "?"),
        (float("nan"), "?"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


class Clock:
    """A perf_counter the test moves by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", fake)
    return fake


def log_console() -> tuple[Console, io.StringIO]:
    """A console writing to a string, as rich does into a log file: not a terminal."""
    buffer = io.StringIO()
    return Console(file=buffer, width=200), buffer


LINE = re.compile(r"^epoch (\d+)/(\d+) step (\d+)/(\d+)  loss (\S+)  lr (\S+)  ([\d,]+) img/s  ETA (\S+)$")


def test_a_log_gets_a_plain_line_every_line_every_steps_and_at_the_last(clock: Clock) -> None:
    console, buffer = log_console()
    assert not console.is_terminal
    bar = TrainProgress(console, epochs=3, line_every=3)
    bar.start_epoch(0, steps=7)
    for step in range(1, 8):
        clock.now = 100.0 + 2.0 * step  # two seconds a step
        bar.advance(loss=1.0 / step, lr=0.01 * step, images=16)
    lines = buffer.getvalue().splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [int(m[3]) for m in parsed] == [3, 6, 7]  # every 3 steps, and the epoch's last
    assert all((m[1], m[2], m[4]) == ("1", "3", "7") for m in parsed)
    third = parsed[0]
    assert third[5] == "0.3333"  # loss 1/3, four decimals
    assert third[6] == "3.00e-02"
    assert third[7] == "8"  # 3 steps x 16 images in 6 s
    assert third[8] == "0:08"  # 4 steps left at 2 s each
    assert parsed[1][8] == "0:02" and parsed[2][8] == "0:00"


def test_a_resumed_epoch_counts_from_where_it_stopped(clock: Clock) -> None:
    console, buffer = log_console()
    bar = TrainProgress(console, epochs=2, line_every=5)
    bar.start_epoch(1, steps=10, done=4)  # 4 of 10 steps were trained before the restart
    for step in range(1, 7):
        clock.now = 100.0 + 3.0 * step
        bar.advance(loss=0.5, lr=1e-3, images=8)
    parsed = [LINE.match(line) for line in buffer.getvalue().splitlines()]
    assert all(parsed)
    assert [(m[1], m[3]) for m in parsed] == [("2", "5"), ("2", "10")]
    # At step 5, one step ran in this session, in 3 s: 5 steps left take 15 s.
    assert parsed[0][8] == "0:15"
    assert parsed[0][7] == "3"  # 8 images in 3 s (2.67) rounds to 3


def test_the_epoch_summary_line(clock: Clock) -> None:
    console, buffer = log_console()
    bar = TrainProgress(console, epochs=12, line_every=100)
    bar.start_epoch(4, steps=2)
    clock.now = 110.0
    bar.advance(loss=0.7, lr=0.1, images=500)
    bar.advance(loss=0.6, lr=0.1, images=500)
    clock.now = 112.5
    buffer.truncate(0)
    buffer.seek(0)
    record = {"epoch": 5, "train_loss": 0.61234, "val_loss": 0.25, "val_top1": 0.875, "val_top5": 0.99999}
    bar.end_epoch(record, is_best=True)
    assert buffer.getvalue() == (
        "epoch   5/12  train loss 0.6123  val loss 0.2500  top-1 87.50%  top-5 100.00%  "
        "80 img/s  12.5s  *best*\n"  # 1,000 images in 12.5 s
    )
    buffer.truncate(0)
    buffer.seek(0)
    bar.end_epoch({**record, "ema_top1": 0.5}, is_best=False)
    text = buffer.getvalue()
    assert "  EMA top-1 50.00%  " in text and "*best*" not in text


def test_large_rates_get_thousands_separators(clock: Clock) -> None:
    console, buffer = log_console()
    bar = TrainProgress(console, epochs=1, line_every=1)
    bar.start_epoch(0, steps=1)
    clock.now = 101.0
    bar.advance(loss=1.0, lr=0.1, images=12_345)
    match = LINE.match(buffer.getvalue().strip())
    assert match and match[7] == "12,345"


def test_disabled_progress_prints_nothing(clock: Clock) -> None:
    console, buffer = log_console()
    bar = TrainProgress(console, epochs=1, enabled=False, line_every=1)
    bar.start_epoch(0, steps=2)
    clock.now = 101.0
    bar.advance(loss=1.0, lr=0.1, images=4)
    bar.end_epoch({"epoch": 1, "train_loss": 1, "val_loss": 1, "val_top1": 0, "val_top5": 0}, False)
    bar.close()
    assert buffer.getvalue() == ""


def test_a_terminal_gets_a_live_bar_instead_of_plain_lines() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, force_terminal=True, color_system=None)
    bar = TrainProgress(console, epochs=1, line_every=1)
    bar.start_epoch(0, steps=2)
    assert bar.bar is not None
    bar.advance(loss=1.0, lr=0.1, images=4)
    bar.advance(loss=0.5, lr=0.1, images=4)
    bar.end_epoch({"epoch": 1, "train_loss": 0.5, "val_loss": 0.4, "val_top1": 0.5, "val_top5": 1.0}, False)
    bar.close()
    assert bar.bar is None
    text = buffer.getvalue()
    assert "step 1/2" not in text and "step 2/2" not in text  # no plain lines on a terminal
    assert "train loss 0.5000  val loss 0.4000  top-1 50.00%" in text
