"""The vocabulary of the architecture tables: one dataclass per kind of table row, and the network.

V1-V3 share one row type (``BlockSpec``): every block is a depthwise separable convolution or an
inverted residual, and the paper columns differ only in which fields they fill. MobileNetV4 mixes
four kinds of block, so each has its own row type with exactly the columns of the V4 appendix
tables (Qin et al. 2024, arXiv:2404.10518): block, DW K1, DW K2, expanded dim, output dim, stride.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["v1", "v2", "v3", "v4"]


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
class ConvRow:
    """V4 "Conv2D": a full k x k convolution, BN and the network's activation.

    Args:
        kernel: the kernel size.
        out: output channels at width multiplier 1.0.
        stride: 1 or 2.
    """

    kernel: int
    out: int
    stride: int = 1


@dataclass(frozen=True)
class FusedIBRow:
    """V4 "FusedIB": a full k x k expansion (BN, activation), then a linear 1x1 projection.

    Args:
        kernel: the expansion's kernel (the table's DW K2 column, though it is not depthwise).
        expanded: the expanded width at multiplier 1.0 (the table's "expanded dim").
        out: output channels at multiplier 1.0.
        stride: the expansion's stride.
    """

    kernel: int
    expanded: int
    out: int
    stride: int = 1


@dataclass(frozen=True)
class UIBRow:
    """V4's Universal Inverted Bottleneck (Figure 4 of the paper), one row of its tables.

    The two optional depthwise convolutions decide the instance: both present is ExtraDW, only
    the middle one is the classic inverted bottleneck (IB), only the start one is ConvNext-like,
    neither is a pure FFN (two 1x1 convolutions).

    Args:
        start_dw: kernel of the depthwise conv before the expansion (DW K1); 0 for none.
        mid_dw: kernel of the depthwise conv after the expansion (DW K2); 0 for none.
        expanded: the expanded width at multiplier 1.0.
        out: output channels at multiplier 1.0.
        stride: 1 or 2; it goes to the middle depthwise conv if there is one, else the start one.
    """

    start_dw: int
    mid_dw: int
    expanded: int
    out: int
    stride: int = 1

    @property
    def instance(self) -> str:
        """The paper's name for this combination: 'ExtraDW', 'IB', 'ConvNext' or 'FFN'."""
        return {(True, True): "ExtraDW", (False, True): "IB", (True, False): "ConvNext"}.get(
            (bool(self.start_dw), bool(self.mid_dw)), "FFN"
        )


@dataclass(frozen=True)
class MQARow:
    """V4's Mobile MQA block (Section 4): multi-query attention with one shared key/value head.

    Args:
        heads: query heads.
        key_dim: width of each query head and of the shared key (the value has the same width).
        out: output channels at multiplier 1.0 (the block's input width: it is residual).
        kv_stride: 2 downsamples keys and values spatially (a depthwise conv), 1 does not.
        kv_kernel: kernel of that depthwise downsampling conv.
    """

    heads: int
    key_dim: int
    out: int
    kv_stride: int = 1
    kv_kernel: int = 3

    @property
    def stride(self) -> int:
        """Mobile MQA keeps the resolution: only keys and values are downsampled."""
        return 1


V4Row = ConvRow | FusedIBRow | UIBRow | MQARow
Row = BlockSpec | V4Row


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: stem, body rows, the optional last 1x1 conv, and the head.

    Args:
        family: 'v1', 'v2', 'v3' or 'v4'; decides block types and channel rounding.
        stem_channels: output width of the first, full 3x3 stride-2 convolution.
        stem_act: the stem's activation.
        blocks: the body, one row per table row (``BlockSpec`` for V1-V3, ``V4Row`` for V4).
        final_conv_channels: the 1x1 conv after the body (V2's 1280, V3's 960 / 576), or 0.
        final_conv_act: its activation.
        head_hidden: the 1x1 layer after pooling (V3: 1280 / 1024, V4: 1280), or 0.
        head_act: its activation.
        head_norm: V4: that layer is a bias-free 1x1 conv with BN; V3's is a plain linear layer.
        block_act: V4: the activation of every block (V1-V3 rows carry their own).
        layer_scale: V4 hybrids: initial value of the per-channel scale on each residual
            branch (LayerScale); None for no scale.
        input_size: the paper's input side in pixels, the default at resolution multiplier 1.
        anti_alias: None, 'avg' or 'blur': how the body's strided convs downsample (see
            ``layers.ConvOptions``); the stem always uses a plain stride.
        paper: where the table comes from.
        separable: V1 only. False replaces every depthwise separable block by one standard
            k x k convolution with the same input and output widths: the "Conv MobileNet"
            that Table 4 of the V1 paper compares against.
    """

    family: Family
    stem_channels: int
    stem_act: str
    blocks: tuple[Row, ...]
    final_conv_channels: int = 0
    final_conv_act: str = "identity"
    head_hidden: int = 0
    head_act: str = "identity"
    head_norm: bool = False
    block_act: str = "relu"
    layer_scale: float | None = None
    input_size: int = 224
    anti_alias: str | None = None
    paper: str = ""
    separable: bool = True
