"""What every page's computation shares: where figures go, how numbers are written, timing.

A page module exposes ``PAGE`` (its variable in the pages, and numbers/<PAGE>.yml), ``MEASURED``
(the names of the numbers that depend on the machine or on training, and so differ between
runs), ``KEY_NUMBERS`` (exact numbers the browser test looks for in the rendered text) and
``make(out: Output) -> dict[str, str]``: the numbers its text quotes, already formatted the way
the page shows them. Anything not in ``MEASURED`` is exact and must come out the same every run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mobilenets.cost.reproduce import Comparison


@dataclass(frozen=True)
class Output:
    """Where a page writes its figures, and how much work it may do.

    ``quick`` is the reduced setting the tests use: fewer repeats, seeds and epochs. The exact
    numbers must not depend on it; the measured ones may.
    """

    img: Path
    quick: bool = False

    def save(self, figure: Figure, name: str) -> str:
        """Write ``figure`` as ``img/<name>.png``; the path a page links to."""
        self.img.mkdir(parents=True, exist_ok=True)
        figure.savefig(self.img / f"{name}.png", dpi=110, bbox_inches="tight")
        plt.close(figure)
        return f"img/{name}.png"

    def save_path(self, name: str) -> Path:
        """``img/<name>.png`` for a package function that writes the figure itself."""
        self.img.mkdir(parents=True, exist_ok=True)
        return self.img / f"{name}.png"


def median_ms(run: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``run()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def count(value: int) -> str:
    """An exact count with thousands separators: 568,740,352."""
    return f"{value:,}"


def millions(value: float, digits: int = 1) -> str:
    """A count in millions: 569.3."""
    return f"{value / 1e6:,.{digits}f}"


def percent(value: float, digits: int = 2) -> str:
    """A share as a percentage: 1.91 (the page writes the % sign)."""
    return f"{100 * value:.{digits}f}"


def ratio(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub/MkDocs table; pages include it whole (``{{ v1.table1 }}``)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def comparison_markdown(comparison: Comparison) -> str:
    """A paper table next to our counts (``cost.reproduce.compare_with_paper``), as markdown."""
    rows = []
    for row in comparison.rows:
        paper = "–" if row.paper is None else comparison.printed(row.paper)
        exact = "" if row.exact is None else count(row.exact)
        note = f"**{row.note}**" if row.note else ""
        rows.append([row.label, row.quantity, paper, f"{row.ours:,.2f}", exact, note])
    return markdown_table(["row", "quantity", "paper", "ours", "exact count", "note"], rows)
