"""Pictures of the cost figures, for readers who would rather look than read (PNG, matplotlib).

Figures are drawn on ``matplotlib.figure.Figure`` directly, not through pyplot, so plotting
needs no display, leaves no global state behind and is safe to call from a library.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from mobilenets.cost.paper_tables import V1_GRID_RESOLUTIONS, V1_GRID_WIDTHS, V1_TABLE6, V1_TABLE7
from mobilenets.cost.report import ProfileReport
from mobilenets.cost.reproduce import mult_adds_grid

# One colour per kind family, so that the same kind looks the same in every plot.
_COLOURS = {
    "pointwise": "#1f77b4",
    "depthwise": "#2ca02c",
    "standard": "#ff7f0e",
    "squeeze-excite": "#9467bd",
    "fully": "#d62728",
}
_ELEMENTWISE_COLOUR = "#7f7f7f"


def _human(count: int) -> str:
    """12,345,678 -> '12.35 M', 44,640 -> '44.6 K', 864 -> '864'."""
    if count >= 1_000_000:
        return f"{count / 1e6:.2f} M"
    if count >= 1_000:
        return f"{count / 1e3:.1f} K"
    return str(count)


def _check_png(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plot path {str(path)!r} must end in .png; plots are written as PNG")
    return path


def plot_breakdown(report: ProfileReport, path: str | Path) -> Path:
    """Bar charts of the share of Mult-Adds and of parameters taken by each kind of layer.

    Args:
        report: what ``mobilenets.profile`` returned.
        path: where to write the PNG.

    Returns:
        The path written.
    """
    path = _check_png(path)
    shares = report.by_kind()[::-1]  # barh draws bottom-up; put the largest on top
    kinds = [s.kind for s in shares]
    colours = [_COLOURS.get(kind.split()[0], _ELEMENTWISE_COLOUR) for kind in kinds]
    figure = Figure(figsize=(9, 0.45 * len(kinds) + 1.8), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    panels = (
        ("Mult-Adds", [s.mult_adds_pct for s in shares], [s.mult_adds for s in shares]),
        ("Parameters", [s.params_pct for s in shares], [s.params for s in shares]),
    )
    for ax, (title, percents, counts) in zip(axes, panels, strict=True):
        bars = ax.barh(kinds, percents, color=colours)
        labels = [f"{p:.2f}%  ({_human(c)})" for p, c in zip(percents, counts, strict=True)]
        ax.bar_label(bars, labels, padding=3, fontsize=8)
        ax.set_xlim(0, 135)  # room for the labels right of the longest bar
        ax.set_xticks(range(0, 101, 20))
        ax.set_xlabel("share of the total (%)")
        ax.set_title(title)
        ax.spines[["top", "right"]].set_visible(False)
    _, height, width = report.input_size
    figure.suptitle(
        f"{report.model} at {height}x{width}: {report.total_mult_adds / 1e6:.1f} M Mult-Adds, "
        f"{report.model_params / 1e6:.2f} M parameters"
    )
    figure.savefig(path, dpi=100)
    return path


def plot_width_resolution_grid(
    path: str | Path,
    widths: Sequence[float] = V1_GRID_WIDTHS,
    resolutions: Sequence[int] = V1_GRID_RESOLUTIONS,
    arch: str = "mobilenet_v1",
) -> Path:
    """A heat map of Mult-Adds over the width multiplier α and the input resolution.

    For V1 at the default grid, the cells that V1 Tables 6 (α at 224 px) and 7 (ρ at α = 1)
    publish also show the paper's figure.

    Args:
        path: where to write the PNG.
        widths: the α values (rows).
        resolutions: the input sizes in pixels (columns).
        arch: the base model name.

    Returns:
        The path written.
    """
    path = _check_png(path)
    grid = mult_adds_grid(widths, resolutions, arch)
    published: dict[tuple[float, int], float] = {}
    if arch == "mobilenet_v1":
        for cost, width in zip(V1_TABLE6.costs, V1_GRID_WIDTHS, strict=True):
            published[(width, 224)] = cost.mult_adds
        for cost, size in zip(V1_TABLE7.costs, V1_GRID_RESOLUTIONS, strict=True):
            published[(1.0, size)] = cost.mult_adds
    millions = [[count / 1e6 for count in row] for row in grid]
    figure = Figure(figsize=(1.5 * len(resolutions) + 2.5, 1.0 * len(widths) + 1.6), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(millions, cmap="viridis", aspect="auto")
    figure.colorbar(image, ax=ax, label="Mult-Adds (millions)")
    peak = max(max(row) for row in millions)
    for i, width in enumerate(widths):
        for j, size in enumerate(resolutions):
            text = f"{millions[i][j]:.1f}"
            if (width, size) in published:
                text += f"\npaper {published[(width, size)]:g}"
            colour = "black" if millions[i][j] > 0.6 * peak else "white"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(len(resolutions)), [f"{size}\nρ={size / 224:.3g}" for size in resolutions])
    ax.set_yticks(range(len(widths)), [f"α={width:g}" for width in widths])
    ax.set_xlabel("input resolution (pixels)")
    ax.set_ylabel("width multiplier")
    ax.set_title(f"{arch}: Mult-Adds (M) over width and resolution")
    figure.savefig(path, dpi=100)
    return path
