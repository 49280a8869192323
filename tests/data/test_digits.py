"""The built-in digits dataset: real data, fixed stratified split."""

import numpy as np
import pytest

from mobilenets.data.digits import load_digits, split_digits


def test_digits_are_the_1797_sklearn_scans_upscaled() -> None:
    data = load_digits(size=32)
    assert data.images.shape == (1797, 32, 32, 3) and data.images.dtype == np.uint8
    assert sorted(set(data.labels.tolist())) == list(range(10))
    assert data.images.max() > 200  # strokes are bright after the 16 -> 255 scaling


def test_split_is_stratified_and_repeatable() -> None:
    train, held_out = split_digits(size=16)
    assert len(train.labels) + len(held_out.labels) == 1797
    assert abs(len(held_out.labels) / 1797 - 0.25) < 0.01
    counts = np.bincount(held_out.labels, minlength=10) / len(held_out.labels)
    assert counts.min() > 0.08 and counts.max() < 0.12
    again = split_digits(size=16)[1]
    np.testing.assert_array_equal(again.labels, held_out.labels)


def test_too_small_size_is_refused() -> None:
    with pytest.raises(ValueError, match="size=4 is below"):
        load_digits(size=4)
