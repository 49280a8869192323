"""train.plots: figures for any class name a folder can have."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from mobilenets.train.plots import plot_confusion, plot_predictions

# A folder name that is not UTF-8 reaches Python as a surrogate escape; CJK lacks a glyph in
# matplotlib's bundled font; a tab is a control character.
ODD_NAMES = [os.fsdecode(b"caf\xe9"), "猫", "tab\tname", "rocket"]


def test_a_confusion_matrix_draws_any_folder_name(tmp_path: Path) -> None:
    confusion = np.arange(16).reshape(4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not one warning per missing glyph either
        out = plot_confusion(confusion, ODD_NAMES, tmp_path / "confusion.png")
    assert out.stat().st_size > 0


def test_prediction_samples_draw_any_folder_name(tmp_path: Path) -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    samples = [(image, ODD_NAMES[0], ODD_NAMES[1], 0.5), (image, ODD_NAMES[2], ODD_NAMES[2], 0.9)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = plot_predictions(samples, tmp_path / "samples.png")
    assert out.stat().st_size > 0


@pytest.mark.parametrize("name", ODD_NAMES[:1])
def test_the_undecodable_name_is_the_one_that_used_to_fail(name: str, tmp_path: Path) -> None:
    """The fixture's point: matplotlib itself refuses the raw name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        with pytest.raises((TypeError, UnicodeEncodeError)):
            ax.set_title(name)
            fig.savefig(tmp_path / "raw.png")
    finally:
        plt.close(fig)
