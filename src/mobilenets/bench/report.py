"""Showing a benchmark: a terminal table, markdown, JSON and a PNG chart, from one report."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mobilenets.atomic_files import atomic_write_bytes
from mobilenets.bench.timing import BenchReport, BenchResult

PRECISION_COLORS = {"fp32": "tab:blue", "bf16": "tab:green", "fp16": "tab:olive", "int8": "tab:orange"}
COLUMNS = (
    "model",
    "backend",
    "precision",
    "batch",
    "median ms",
    "p90 ms",
    "img/s",
    "GMAC/s",
    "% of peak",
    "check",
    "note",
)
# Wide enough for every column with the backend's name whole (see print_bench_table).
TABLE_WIDTH = 140


def _cells(row: BenchResult) -> list[str]:
    def number(value: float | None, digits: int) -> str:
        return "–" if value is None else f"{value:,.{digits}f}"

    share = "–" if row.peak_share is None else f"{100 * row.peak_share:.1f}%"
    return [
        row.model,
        f"{row.backend} (peer default)" if row.peer else row.backend,
        row.precision,
        str(row.batch),
        number(row.median_ms, 2),
        number(row.p90_ms, 2),
        number(row.images_per_s, 1),
        number(row.gmacs_per_s, 1),
        share,
        row.check,
        row.note,
    ]


def caption(report: BenchReport) -> str:
    """The lines under every table: date, threads, MACs, what was checked on, CPU and peaks.

    "% of peak" is of the peak of the row's own precision.
    """
    macs = ", ".join(f"{name} {value / 1e6:.0f}M" for name, value in report.macs.items())
    checked = "; ".join(f"{name}: {source}" for name, source in report.check_source.items())
    share = "% of peak: of the peak of the row's own precision."
    if any(row.peak_share is not None and row.peak_share > 1 for row in report.results):
        # Not an error in the count: the peak's clock is the one the OS reports, and a VM's
        # /proc/cpuinfo gives the base clock while the cores boost above it.
        share += f" Above 100%: the cores ran faster than the {report.peak.ghz:.2f} GHz assumed (boost)."
    return (
        f"{report.date}, {report.threads} threads. MACs per image: {macs}. Checked on: {checked}.\n"
        f"{report.peak.describe()}\n{share}"
    )


def bench_table(report: BenchReport) -> Table:
    """A rich table for the terminal."""
    table = Table(title="mobilenets bench", caption=caption(report))
    rows = [_cells(row) for row in report.results]
    for index, column in enumerate(COLUMNS):
        # A narrow terminal may shorten the model's file name, never the backend: it names the path.
        whole = max((len(cells[index]) for cells in rows), default=0) if column == "backend" else None
        table.add_column(
            column,
            justify="left" if column in ("model", "backend", "note") else "right",
            min_width=whole,
            no_wrap=column == "backend",
        )
    for cells in rows:
        table.add_row(*(escape(cell) for cell in cells))  # notes hold '[deploy]'
    return table


def print_bench_table(console: Console, report: BenchReport) -> None:
    """Print ``bench_table`` to ``console``'s output, at least ``TABLE_WIDTH`` wide."""
    wide = Console(
        file=console.file, width=max(console.width, TABLE_WIDTH), force_terminal=console.is_terminal
    )
    wide.print(bench_table(report))


def bench_markdown(report: BenchReport) -> str:
    """The same table as GitHub markdown, caption below."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += [
        "| " + " | ".join(cell.replace("|", "/") for cell in _cells(row)) + " |" for row in report.results
    ]
    return "\n".join(lines) + "\n\n" + caption(report).replace("\n", "\n\n") + "\n"


def save_bench(report: BenchReport, out_dir: str | Path, stem: str = "bench") -> list[Path]:
    """Write ``stem.md``, ``stem.json`` and ``stem.png`` into ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, data, chart = out_dir / f"{stem}.md", out_dir / f"{stem}.json", out_dir / f"{stem}.png"
    atomic_write_bytes(markdown, bench_markdown(report).encode())
    atomic_write_bytes(data, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    save_chart(report, chart)
    return [markdown, data, chart]


def save_chart(report: BenchReport, path: str | Path) -> Path:
    """A horizontal bar chart of median latency, one panel per batch size, bars grouped by model."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    batches = sorted({r.batch for r in report.results})
    measured = [r for r in report.results if r.median_ms is not None]
    fig, axes = plt.subplots(1, len(batches), figsize=(6 * len(batches), 0.4 * max(4, len(measured)) + 1.5))
    axes_list = list(axes) if len(batches) > 1 else [axes]
    for axis, batch in zip(axes_list, batches, strict=True):
        rows = [r for r in measured if r.batch == batch]
        labels = [f"{r.model} · {r.backend}" for r in rows]
        values = [r.median_ms or 0.0 for r in rows]
        colors = [PRECISION_COLORS.get(r.precision, "tab:blue") if not r.peer else "tab:gray" for r in rows]
        axis.barh(range(len(rows)), values, color=colors)
        axis.set_yticks(range(len(rows)), labels, fontsize=8)
        axis.invert_yaxis()
        axis.set_xlabel("median ms (lower is better)")
        axis.set_title(f"batch {batch}, {report.threads} threads")
    # One legend for the figure, below the panels; the saved box grows to hold it (a long
    # axis label in its place was cut off at the panel's edge).
    keys = [Patch(color="tab:gray", label="peer default")]
    keys += [Patch(color=color, label=f"ours, {name}") for name, color in PRECISION_COLORS.items()]
    fig.legend(handles=keys, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(keys), fontsize=8)
    fig.suptitle(report.peak.cpu_name, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
