"""Standard against depthwise separable, one layer at a time (V1 Section 3.1)."""

import pytest
import torch

from mobilenets.cost.separable_comparison import compare_layers, standard_and_separable


@pytest.mark.parametrize(
    ("m", "n", "k", "d"), [(32, 64, 3, 112), (512, 512, 3, 14), (16, 24, 5, 28), (3, 7, 7, 9), (8, 8, 1, 4)]
)
def test_counted_ratio_is_one_over_n_plus_one_over_k_squared(m: int, n: int, k: int, d: int) -> None:
    result = compare_layers(m, n, k, d)
    # The paper's costs: D_K^2 M N D_F^2 against D_K^2 M D_F^2 + M N D_F^2.
    assert result.standard_mult_adds == k * k * m * n * d * d
    assert result.separable_mult_adds == k * k * m * d * d + m * n * d * d
    assert result.counted_ratio == pytest.approx(1 / n + 1 / k**2, rel=1e-12)
    assert result.analytic_ratio == pytest.approx(1 / n + 1 / k**2, rel=1e-12)
    # Weights follow the same ratio: the map size cancels.
    assert result.params_ratio == pytest.approx(1 / n + 1 / k**2, rel=1e-12)


def test_v1_example_saves_eight_to_nine_times() -> None:
    # Section 3.1: with 3x3 kernels, separable convolutions cost 8 to 9 times less.
    ratio = compare_layers(512, 512, 3, 14).counted_ratio
    assert 8 < 1 / ratio < 9


def test_both_layers_map_the_same_shapes() -> None:
    standard, separable = standard_and_separable(16, 32, 3)
    x = torch.randn(2, 16, 20, 20)
    assert standard(x).shape == separable(x).shape == (2, 32, 20, 20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((16, 32, 4, 8), "kernel_size=4 is even"),
        ((0, 32, 3, 8), "in_channels=0"),
        ((16, 32, 3, 0), "map_size=0"),
    ],
)
def test_bad_shapes_are_named(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare_layers(*args)
