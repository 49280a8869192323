"""One standard convolution against its depthwise separable factorization (V1 Section 3.1).

For M input channels, N output channels, a K x K kernel and a D_F x D_F output map, the V1
paper writes the standard cost as D_K^2 M N D_F^2 and the separable cost as
D_K^2 M D_F^2 + M N D_F^2, whose ratio is 1/N + 1/K^2. ``compare_layers`` shows that ratio
beside the one counted by the profiler on two real layers; the CPU time ratio of the same
two layers is measured by ``benchmarks/separable_vs_standard.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from mobilenets.cost.profiler import profile


def standard_and_separable(
    in_channels: int, out_channels: int, kernel_size: int
) -> tuple[nn.Module, nn.Module]:
    """The two layers being compared, without batch norm or activations (they are not costed).

    Args:
        in_channels: M.
        out_channels: N.
        kernel_size: K, odd, so that 'same' padding keeps the map size.

    Returns:
        ``(standard, separable)``: a K x K convolution, and a depthwise K x K followed by a
        pointwise 1 x 1 convolution, both mapping (M, D, D) to (N, D, D).
    """
    _check_positive(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size)
    if kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size={kernel_size} is even; 'same' padding needs an odd kernel so that both "
            "layers keep the D_F x D_F map. Use 1, 3, 5 or 7."
        )
    padding = kernel_size // 2
    standard = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)
    separable = nn.Sequential()
    separable.add_module(
        "dw",
        nn.Conv2d(in_channels, in_channels, kernel_size, padding=padding, groups=in_channels, bias=False),
    )
    separable.add_module("pw", nn.Conv2d(in_channels, out_channels, 1, bias=False))
    return standard, separable


@dataclass(frozen=True)
class LayerComparison:
    """Standard against separable for one (M, N, K, D_F).

    Args:
        in_channels, out_channels, kernel_size, map_size: M, N, K, D_F.
        standard_mult_adds, separable_mult_adds: counted by the profiler on the real layers.
        standard_params, separable_params: the layers' weights.
    """

    in_channels: int
    out_channels: int
    kernel_size: int
    map_size: int
    standard_mult_adds: int
    separable_mult_adds: int
    standard_params: int
    separable_params: int

    @property
    def analytic_ratio(self) -> float:
        """1/N + 1/K^2, the paper's closed form."""
        return 1 / self.out_channels + 1 / self.kernel_size**2

    @property
    def counted_ratio(self) -> float:
        """Separable over standard Mult-Adds, as counted on the two modules."""
        return self.separable_mult_adds / self.standard_mult_adds

    @property
    def params_ratio(self) -> float:
        return self.separable_params / self.standard_params


def compare_layers(in_channels: int, out_channels: int, kernel_size: int, map_size: int) -> LayerComparison:
    """Count a standard and a depthwise separable layer of the same shape.

    Args:
        in_channels: M.
        out_channels: N.
        kernel_size: K (odd).
        map_size: D_F, the side of the (square) input and output map.

    Returns:
        A ``LayerComparison`` with the counted costs and both ratios.
    """
    _check_positive(map_size=map_size)
    standard, separable = standard_and_separable(in_channels, out_channels, kernel_size)
    size = (in_channels, map_size, map_size)
    standard_report = profile(standard, size)
    separable_report = profile(separable, size)
    return LayerComparison(
        in_channels,
        out_channels,
        kernel_size,
        map_size,
        standard_report.total_mult_adds,
        separable_report.total_mult_adds,
        standard_report.total_params,
        separable_report.total_params,
    )


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")
