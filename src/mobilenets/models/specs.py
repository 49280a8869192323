"""The papers' architecture tables, as data.

Every table below can be read next to its paper and ticked off row by row. Channel counts are
the paper's values at width multiplier 1.0; the builder in ``mobilenet.py`` scales them.

- MobileNetV1: Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for
  Mobile Vision Applications", arXiv:1704.04861, Table 1.
- MobileNetV2: Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
  arXiv:1801.04381, Table 2.
- MobileNetV3: Howard et al. 2019, "Searching for MobileNetV3", arXiv:1905.02244, Table 1
  (Large) and Table 2 (Small); the minimalistic variants are described in Section 6.1.3 and
  released with the TF-slim code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

Family = Literal["v1", "v2", "v3"]


@dataclass(frozen=True)
class BlockSpec:
    """One row of a paper table: ``repeats`` identical blocks, the first carrying the stride.

    Args:
        kernel: depthwise kernel size.
        expand: V2: the expansion factor t. V3: the paper's "exp size" column, the expanded
            width at multiplier 1.0 (the builder turns it into a ratio of the block's input).
            None for V1's depthwise separable block, which has no expansion.
        out: output channels at width multiplier 1.0.
        se: whether the block has squeeze-and-excite.
        act: the block's non-linearity.
        stride: stride of the first block of the row; the repeats use stride 1.
        repeats: how many times the block repeats (the n column of V2's table).
    """

    kernel: int
    expand: float | None
    out: int
    se: bool
    act: str
    stride: int
    repeats: int = 1


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: stem, body rows, the optional last 1x1 conv, and the head.

    Args:
        family: 'v1', 'v2' or 'v3'; decides block type and channel rounding.
        stem_channels: output width of the first, full 3x3 stride-2 convolution.
        stem_act: the stem's activation.
        blocks: the body, one ``BlockSpec`` per table row.
        final_conv_channels: the 1x1 conv after the body (V2's 1280, V3's 960 / 576), or 0.
        final_conv_act: its activation.
        head_hidden: V3's 1x1 "NBN" layer after pooling (1280 / 1024), or 0.
        head_act: its activation.
        paper: where the table comes from.
        separable: V1 only. False replaces every depthwise separable block by one standard
            k x k convolution with the same input and output widths: the "Conv MobileNet"
            that Table 4 of the V1 paper compares against.
    """

    family: Family
    stem_channels: int
    stem_act: str
    blocks: tuple[BlockSpec, ...]
    final_conv_channels: int = 0
    final_conv_act: str = "identity"
    head_hidden: int = 0
    head_act: str = "identity"
    paper: str = ""
    separable: bool = True


def _v1_row(out: int, stride: int, repeats: int = 1) -> BlockSpec:
    return BlockSpec(kernel=3, expand=None, out=out, se=False, act="relu", stride=stride, repeats=repeats)


# V1, Table 1. Each "Conv dw / s, Conv / s1" pair of the table is one depthwise separable row.
MOBILENET_V1 = ArchSpec(
    family="v1",
    stem_channels=32,
    stem_act="relu",
    blocks=(
        _v1_row(64, 1),
        _v1_row(128, 2),
        _v1_row(128, 1),
        _v1_row(256, 2),
        _v1_row(256, 1),
        _v1_row(512, 2),
        _v1_row(512, 1, repeats=5),
        _v1_row(1024, 2),
        # The table prints "Conv dw / s2" here, yet its own output size stays 7x7; the
        # reference TF-slim code and the released weights use stride 1, so we do too.
        _v1_row(1024, 1),
    ),
    paper="MobileNetV1, arXiv:1704.04861, Table 1",
)


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


def _bneck(kernel: int, exp: int, out: int, se: bool, act: str, stride: int) -> BlockSpec:
    return BlockSpec(kernel=kernel, expand=exp, out=out, se=se, act=act, stride=stride)


RE, HS = "relu", "hardswish"  # the paper's NL column

# V3-Large, Table 1: kernel, exp size, #out, SE, NL, s.
MOBILENET_V3_LARGE = ArchSpec(
    family="v3",
    stem_channels=16,
    stem_act=HS,
    blocks=(
        _bneck(3, 16, 16, False, RE, 1),
        _bneck(3, 64, 24, False, RE, 2),
        _bneck(3, 72, 24, False, RE, 1),
        _bneck(5, 72, 40, True, RE, 2),
        _bneck(5, 120, 40, True, RE, 1),
        _bneck(5, 120, 40, True, RE, 1),
        _bneck(3, 240, 80, False, HS, 2),
        _bneck(3, 200, 80, False, HS, 1),
        _bneck(3, 184, 80, False, HS, 1),
        _bneck(3, 184, 80, False, HS, 1),
        _bneck(3, 480, 112, True, HS, 1),
        _bneck(3, 672, 112, True, HS, 1),
        _bneck(5, 672, 160, True, HS, 2),
        _bneck(5, 960, 160, True, HS, 1),
        _bneck(5, 960, 160, True, HS, 1),
    ),
    final_conv_channels=960,
    final_conv_act=HS,
    head_hidden=1280,
    head_act=HS,
    paper="MobileNetV3, arXiv:1905.02244, Table 1",
)

# V3-Small, Table 2. The table also marks SE on the final 1x1 conv (576); neither the
# reference TF code nor the released weights have it there, so it is left out.
MOBILENET_V3_SMALL = ArchSpec(
    family="v3",
    stem_channels=16,
    stem_act=HS,
    blocks=(
        _bneck(3, 16, 16, True, RE, 2),
        _bneck(3, 72, 24, False, RE, 2),
        _bneck(3, 88, 24, False, RE, 1),
        _bneck(5, 96, 40, True, HS, 2),
        _bneck(5, 240, 40, True, HS, 1),
        _bneck(5, 240, 40, True, HS, 1),
        _bneck(5, 120, 48, True, HS, 1),
        _bneck(5, 144, 48, True, HS, 1),
        _bneck(5, 288, 96, True, HS, 2),
        _bneck(5, 576, 96, True, HS, 1),
        _bneck(5, 576, 96, True, HS, 1),
    ),
    final_conv_channels=576,
    final_conv_act=HS,
    head_hidden=1024,
    head_act=HS,
    paper="MobileNetV3, arXiv:1905.02244, Table 2",
)


def minimalistic(spec: ArchSpec) -> ArchSpec:
    """The V3 "minimalistic" variant: no SE, no hard-swish, 3x3 kernels only.

    These trade a little accuracy for layers every mobile accelerator supports (Section 6.1.3
    of the V3 paper mentions them; TF-slim publishes their weights).
    """
    blocks = tuple(dataclasses.replace(block, kernel=3, se=False, act="relu") for block in spec.blocks)
    return dataclasses.replace(
        spec,
        stem_act="relu",
        blocks=blocks,
        final_conv_act="relu",
        head_act="relu",
        paper=spec.paper + ", minimalistic (no SE, ReLU, 3x3)",
    )


def full_convolution(spec: ArchSpec) -> ArchSpec:
    """V1 with standard convolutions in place of the depthwise separable ones (V1 Table 4).

    The paper trains this network only to show what factorization saves: about 8x fewer
    Mult-Adds and 7x fewer parameters for 1.1% of accuracy.
    """
    if spec.family != "v1":
        raise ValueError(
            f"full_convolution needs a V1 spec, got family={spec.family!r}: only V1 is built "
            "from depthwise separable blocks. Pass specs.MOBILENET_V1."
        )
    return dataclasses.replace(
        spec, separable=False, paper="MobileNetV1, arXiv:1704.04861, Table 4 (Conv MobileNet)"
    )


ARCHITECTURES: dict[str, ArchSpec] = {
    "mobilenet_v1": MOBILENET_V1,
    "mobilenet_v1_conv": full_convolution(MOBILENET_V1),
    "mobilenet_v2": MOBILENET_V2,
    "mobilenet_v3_large": MOBILENET_V3_LARGE,
    "mobilenet_v3_small": MOBILENET_V3_SMALL,
    "mobilenet_v3_large_minimal": minimalistic(MOBILENET_V3_LARGE),
    "mobilenet_v3_small_minimal": minimalistic(MOBILENET_V3_SMALL),
}
