"""The papers' cost tables, recomputed from our models: paper | ours | difference.

Every "ours" figure is counted by ``mobilenets.profile`` on the network that
``create_model`` builds, so these tables test the model zoo and the counter together. What
cannot be counted (the V4 paper's accuracy and device latencies) is quoted beside, never mixed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

from mobilenets.cost.paper_tables import PAPER_TABLES, PAPERS, V1_GRID_RESOLUTIONS, V1_GRID_WIDTHS, PaperTable
from mobilenets.cost.profiler import profile
from mobilenets.cost.report import ProfileReport


@dataclass(frozen=True)
class ComparisonRow:
    """One printed figure next to ours.

    Args:
        label: the paper's row name.
        quantity: 'Mult-Adds (M)' or '(G)', 'params (M)', 'Mult-Adds %', 'params %', or
            'attention matmul (G)' (V4's hybrids, a figure the paper does not print apart).
        paper: the printed figure; None where the paper prints none.
        ours: the same quantity counted on our model, unrounded.
        exact: the exact integer count behind ``ours``, where there is one.
        note: what is wrong with the printed figure, if anything.
    """

    label: str
    quantity: str
    paper: float | None
    ours: float
    exact: int | None = None
    note: str = ""

    @property
    def difference(self) -> float | None:
        return None if self.paper is None else self.ours - self.paper


@dataclass(frozen=True)
class QuotedRow:
    """Figures of one network that only the paper has (accuracy, measured latency), as printed."""

    label: str
    top1: float | None
    latency_ms: tuple[float, ...]


@dataclass(frozen=True)
class Comparison:
    """A paper table recomputed: its title, source, rows and notes.

    ``quoted`` holds the table's figures that cannot be recomputed, with ``latency_devices``
    naming the columns of their ``latency_ms``; ``printed_decimals`` is how the paper prints
    its figures, when it fixes that.
    """

    title: str
    source: str
    rows: tuple[ComparisonRow, ...]
    notes: tuple[str, ...] = ()
    quoted: tuple[QuotedRow, ...] = ()
    latency_devices: tuple[str, ...] = ()
    printed_decimals: int | None = None

    def printed(self, value: float) -> str:
        """A published figure as the paper prints it."""
        return f"{value:g}" if self.printed_decimals is None else f"{value:.{self.printed_decimals}f}"


class _Profiles:
    """Profile each model name once: Tables 6 and 7 share their first row."""

    def __init__(self) -> None:
        self._reports: dict[str, ProfileReport] = {}

    def __call__(self, name: str) -> ProfileReport:
        if name not in self._reports:
            self._reports[name] = profile(name)
        return self._reports[name]


def _compare_table(table: PaperTable, profiles: _Profiles) -> Comparison:
    rows: list[ComparisonRow] = []
    if table.shares:
        report = profiles(table.model)
        for share in table.shares:
            ours = report.share(share.kind)
            rows.append(
                ComparisonRow(share.label, "Mult-Adds %", share.mult_adds_pct, ours.mult_adds_pct,
                              ours.mult_adds, share.note)
            )  # fmt: skip
            rows.append(
                ComparisonRow(share.label, "params %", share.params_pct, ours.params_pct, ours.params)
            )
    unit = table.mult_adds_unit
    scale = {"M": 1e6, "G": 1e9}[unit]
    for cost in table.costs:
        report = profiles(cost.model)
        total, attention = report.total_mult_adds, report.attention_mult_adds
        rows.append(ComparisonRow(cost.label, f"Mult-Adds ({unit})", cost.mult_adds, total / scale, total))
        if attention:  # counted apart from conv + linear; the papers print no such figure
            attention_row = f"attention matmul ({unit})"
            rows.append(ComparisonRow(cost.label, attention_row, None, attention / scale, attention))
        rows.append(
            ComparisonRow(
                cost.label, "params (M)", cost.params, report.model_params / 1e6, report.model_params
            )
        )
    quoted = tuple(
        QuotedRow(cost.label, cost.top1, cost.latency_ms)
        for cost in table.costs
        if cost.top1 is not None or cost.latency_ms
    )
    return Comparison(
        table.title,
        table.source,
        tuple(rows),
        table.notes,
        quoted,
        table.latency_devices,
        table.printed_decimals,
    )


def compare_with_paper(paper: str) -> list[Comparison]:
    """Recompute every cost table of one paper.

    Args:
        paper: 'v1' (Tables 2, 4, 6, 7), 'v2' (the headline model), 'v3' (Table 3) or 'v4'
            (Table 6: the five models at the paper's inputs).

    Returns:
        One ``Comparison`` per published table, in the paper's order.
    """
    if paper not in PAPER_TABLES:
        raise ValueError(f"paper={paper!r} is unknown; choose one of {list(PAPERS)}")
    profiles = _Profiles()
    return [_compare_table(table, profiles) for table in PAPER_TABLES[paper]]


def mult_adds_grid(
    widths: Sequence[float], resolutions: Sequence[int], arch: str = "mobilenet_v1"
) -> list[list[int]]:
    """Mult-Adds of ``arch`` at every (width multiplier, input size) pair.

    V1's Tables 6 and 7 vary α at 224 px and ρ at α = 1; this fills in the rest of the grid.

    Args:
        widths: the α values (rows).
        resolutions: input sizes in pixels (columns).
        arch: any base model name.

    Returns:
        ``grid[i][j]`` = Mult-Adds at ``widths[i]`` and ``resolutions[j]``.
    """
    if not widths or not resolutions:
        raise ValueError("mult_adds_grid needs at least one width and one resolution")
    return [
        [profile(arch, size, width_mult=width).total_mult_adds for size in resolutions] for width in widths
    ]


def _format(value: float, signed: bool = False, decimals: int = 2) -> str:
    if abs(value) < 0.5 * 10**-decimals:  # no "-0.00"
        value = 0.0
        signed = False
    return f"{value:{'+' if signed else ''}.{decimals}f}"


def comparison_table(comparison: Comparison) -> Table:
    """A rich table: row | quantity | paper | ours | difference | exact count (| note)."""
    caption = "\n".join(f"Note: {note}" for note in comparison.notes) or None
    table = Table(title=f"{comparison.title}\n({comparison.source})", caption=caption, caption_justify="left")
    table.add_column("row")
    table.add_column("quantity")
    for column in ("paper", "ours", "difference", "exact count"):
        table.add_column(column, justify="right", no_wrap=True)  # let the labels wrap, never a number
    with_notes = any(row.note for row in comparison.rows)
    if with_notes:
        table.add_column("note")
    for row in comparison.rows:
        # Billions get a third decimal: V4 Conv-S's 0.186 G would print as 0.19.
        decimals = 3 if row.quantity.endswith("(G)") else 2
        if row.paper is None or row.difference is None:
            paper, difference = "-", "-"
        else:
            paper = comparison.printed(row.paper)
            difference = _format(row.difference, signed=True, decimals=decimals)
            if row.quantity.endswith("%"):
                difference += " pt"
            elif row.paper:
                difference += f" ({_format(100 * row.difference / row.paper, signed=True)}%)"
        exact = "" if row.exact is None else f"{row.exact:,}"
        cells = [row.label, row.quantity, paper, _format(row.ours, decimals=decimals), difference, exact]
        if with_notes:
            cells.append(f"[bold red]{row.note}[/]" if row.note else "")
        table.add_row(*cells)
    return table


def quoted_table(comparison: Comparison) -> Table:
    """A rich table of the figures only the paper has: row | top-1 | one column per device."""
    table = Table(title=f"{comparison.title}: as published, not recomputed\n({comparison.source})")
    table.add_column("row")
    table.add_column("top-1 (%)", justify="right")
    for device in comparison.latency_devices:
        table.add_column(f"{device} (ms)", justify="right")
    for row in comparison.quoted:
        top1 = "-" if row.top1 is None else comparison.printed(row.top1)
        table.add_row(row.label, top1, *(comparison.printed(ms) for ms in row.latency_ms))
    return table


def grid_table() -> Table:
    """V1 Mult-Adds (millions) at every α of Table 6 and every resolution of Table 7."""
    grid = mult_adds_grid(V1_GRID_WIDTHS, V1_GRID_RESOLUTIONS)
    table = Table(title="V1 Tables 6-7 widened: Mult-Adds (M), ours")
    table.add_column("α")
    for size in V1_GRID_RESOLUTIONS:
        table.add_column(f"{size} px", justify="right")
    for width, row in zip(V1_GRID_WIDTHS, grid, strict=True):
        table.add_row(str(width), *(f"{count / 1e6:.2f}" for count in row))
    return table
