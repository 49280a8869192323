"""PNG plots of the cost figures."""

from pathlib import Path

import pytest

from mobilenets import profile
from mobilenets.cost.plots import plot_breakdown, plot_width_resolution_grid

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_breakdown_plot_is_a_png(tmp_path: Path) -> None:
    path = plot_breakdown(profile("mobilenet_v3_small", elementwise=True), tmp_path / "kinds.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert 5_000 < path.stat().st_size < 200_000


def test_grid_plot_is_a_png(tmp_path: Path) -> None:
    path = plot_width_resolution_grid(tmp_path / "grid.png", widths=(1.0, 0.25), resolutions=(224, 128))
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_plot_path_must_be_png(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must end in \.png"):
        plot_breakdown(profile("mobilenet_v1_0.25"), tmp_path / "kinds.jpg")
