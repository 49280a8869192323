"""MobileNetV2: Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
arXiv:1801.04381, Table 2."""

from __future__ import annotations

from mobilenets.models.specs.rows import ArchSpec, BlockSpec


def _v2_row(t: int, c: int, n: int, s: int) -> BlockSpec:
    return BlockSpec(kernel=3, expand=t, out=c, se=False, act="relu6", stride=s, repeats=n)


# V2, Table 2: rows of (t, c, n, s) = expansion, output channels, repeats, stride.
MOBILENET_V2 = ArchSpec(
    family="v2",
    stem_channels=32,
    stem_act="relu6",
    blocks=(
        _v2_row(t=1, c=16, n=1, s=1),
        _v2_row(t=6, c=24, n=2, s=2),
        _v2_row(t=6, c=32, n=3, s=2),
        _v2_row(t=6, c=64, n=4, s=2),
        _v2_row(t=6, c=96, n=3, s=1),
        _v2_row(t=6, c=160, n=3, s=2),
        _v2_row(t=6, c=320, n=1, s=1),
    ),
    final_conv_channels=1280,
    final_conv_act="relu6",
    paper="MobileNetV2, arXiv:1801.04381, Table 2",
)
