"""MobileNetV4: Qin et al. 2024, "MobileNetV4: Universal Models for the Mobile Ecosystem",
arXiv:2404.10518 (v2), the architecture tables of the appendix (Table 11 is MNv4-Conv-S and
Table 13 MNv4-Hybrid-M; the others follow in the same appendix).

Each row reads like a row of those tables: block, DW K1 (``start_dw``), DW K2 (``mid_dw``),
expanded dim, output dim, stride. Widths are at multiplier 1.0.

The rows follow the released models (timm's ``mobilenetv4_*``, identical block for block to the
TF Model Garden's ``MNV4*_BLOCK_SPECS``), because those are the only trained weights there are.
Where they differ from the tables, the row says so:

- Conv-S's first two stages: the table's two FusedIB rows are built as two Conv2D rows each
  (k x k stride 2, then 1x1), and the 1x1 carries BN and ReLU where a FusedIB projection is linear.
- Parameter counts: timm's Conv-S (3.77 M) matches the paper's 3.8 M, but its M and L models
  are 5-6% above the paper's Table 6 (Conv-M 9.72 M vs 9.2 M, Conv-L 32.59 M vs 31.0 M,
  Hybrid-M 11.07 M vs 10.5 M, Hybrid-L 37.76 M vs 35.9 M). These rows are the released
  networks; leaving out the classifier, the 1280 head, BatchNorm or channel rounding does not
  reproduce all five published figures (``mobilenets profile --paper v4`` prints both), so the
  published figures most likely describe slightly different instantiations.
"""

from __future__ import annotations

from mobilenets.models.specs.rows import ArchSpec, ConvRow, FusedIBRow, MQARow, UIBRow, V4Row


def _uib(start_dw: int, mid_dw: int, expanded: int, out: int, stride: int = 1) -> UIBRow:
    return UIBRow(start_dw=start_dw, mid_dw=mid_dw, expanded=expanded, out=out, stride=stride)


def _times(count: int, row: V4Row) -> tuple[V4Row, ...]:
    """``count`` identical rows (the tables print them one under another)."""
    return (row,) * count


def _v4(
    stem: int, blocks: tuple[V4Row, ...], input_size: int, paper: str, act: str = "relu", hybrid: bool = False
) -> ArchSpec:
    # Every V4 model ends the same way: a 1x1 conv to 960, average pooling, a 1x1 conv to 1280
    # with BN (on the pooled 1x1 map, so it costs little), then the classifier.
    return ArchSpec(
        family="v4",
        stem_channels=stem,
        stem_act=act,
        blocks=blocks,
        final_conv_channels=960,
        final_conv_act=act,
        head_hidden=1280,
        head_act=act,
        head_norm=True,
        block_act=act,
        layer_scale=1e-5 if hybrid else None,
        input_size=input_size,
        paper=paper,
    )


_PAPER = "MobileNetV4, arXiv:2404.10518, appendix"

MOBILENET_V4_CONV_SMALL = _v4(
    stem=32,
    blocks=(
        ConvRow(3, 32, stride=2),  # the table's FusedIB 3x3, 32 -> 32, as two Conv2D rows
        ConvRow(1, 32),
        ConvRow(3, 96, stride=2),  # the table's FusedIB 3x3, 96 -> 64, as two Conv2D rows
        ConvRow(1, 64),
        _uib(5, 5, 192, 96, stride=2),  # ExtraDW
        *_times(4, _uib(0, 3, 192, 96)),  # IB
        _uib(3, 0, 384, 96),  # ConvNext
        _uib(3, 3, 576, 128, stride=2),  # ExtraDW
        _uib(5, 5, 512, 128),  # ExtraDW
        _uib(0, 5, 512, 128),  # IB
        _uib(0, 5, 384, 128),  # IB
        *_times(2, _uib(0, 3, 512, 128)),  # IB
    ),
    input_size=224,
    paper=f"{_PAPER} Table 11 (MNv4-Conv-S)",
)

MOBILENET_V4_CONV_MEDIUM = _v4(
    stem=32,
    blocks=(
        FusedIBRow(3, 128, 48, stride=2),
        _uib(3, 5, 192, 80, stride=2),
        _uib(3, 3, 160, 80),
        _uib(3, 5, 480, 160, stride=2),
        *_times(2, _uib(3, 3, 640, 160)),
        _uib(3, 5, 640, 160),
        _uib(3, 3, 640, 160),
        _uib(3, 0, 640, 160),  # ConvNext
        _uib(0, 0, 320, 160),  # FFN (timm's comment calls it ExtraDW; it has no depthwise conv)
        _uib(3, 0, 640, 160),  # ConvNext
        _uib(5, 5, 960, 256, stride=2),
        _uib(5, 5, 1024, 256),
        *_times(2, _uib(3, 5, 1024, 256)),
        _uib(0, 0, 1024, 256),  # FFN
        _uib(3, 0, 1024, 256),  # ConvNext
        _uib(3, 5, 512, 256),
        _uib(5, 5, 1024, 256),
        *_times(2, _uib(0, 0, 1024, 256)),  # FFN
        _uib(5, 0, 512, 256),  # ConvNext
    ),
    input_size=256,
    paper=f"{_PAPER}, MNv4-Conv-M",
)

MOBILENET_V4_CONV_LARGE = _v4(
    stem=24,
    blocks=(
        FusedIBRow(3, 96, 48, stride=2),
        _uib(3, 5, 192, 96, stride=2),
        _uib(3, 3, 384, 96),
        _uib(3, 5, 384, 192, stride=2),
        *_times(3, _uib(3, 3, 768, 192)),
        _uib(3, 5, 768, 192),
        *_times(5, _uib(5, 3, 768, 192)),
        _uib(3, 0, 768, 192),  # ConvNext
        _uib(5, 5, 768, 512, stride=2),
        *_times(3, _uib(5, 5, 2048, 512)),
        _uib(5, 0, 2048, 512),
        _uib(5, 3, 2048, 512),
        *_times(2, _uib(5, 0, 2048, 512)),
        _uib(5, 3, 2048, 512),
        _uib(5, 5, 2048, 512),
        *_times(3, _uib(5, 0, 2048, 512)),
    ),
    input_size=384,
    paper=f"{_PAPER}, MNv4-Conv-L",
)

# The hybrids put Mobile MQA blocks into the last two stages. Those in the 16x16 (M) or 24x24
# (L) stage downsample keys and values by 2; those in the last stage do not.
_MQA_M3, _MQA_M4 = MQARow(heads=4, key_dim=64, out=160, kv_stride=2), MQARow(heads=4, key_dim=64, out=256)

MOBILENET_V4_HYBRID_MEDIUM = _v4(
    stem=32,
    blocks=(
        FusedIBRow(3, 128, 48, stride=2),
        _uib(3, 5, 192, 80, stride=2),
        _uib(3, 3, 160, 80),
        _uib(3, 5, 480, 160, stride=2),
        _uib(0, 0, 320, 160),
        _uib(3, 3, 640, 160),
        _uib(3, 5, 640, 160),
        _MQA_M3,
        _uib(3, 3, 640, 160),
        _MQA_M3,
        _uib(3, 0, 640, 160),
        _MQA_M3,
        _uib(3, 3, 640, 160),
        _MQA_M3,
        _uib(3, 0, 640, 160),
        _uib(5, 5, 960, 256, stride=2),
        _uib(5, 5, 1024, 256),
        *_times(2, _uib(3, 5, 1024, 256)),
        _uib(0, 0, 512, 256),
        _uib(3, 5, 512, 256),
        _uib(0, 0, 512, 256),
        _uib(0, 0, 1024, 256),
        _MQA_M4,
        _uib(3, 0, 1024, 256),
        _MQA_M4,
        _uib(5, 5, 1024, 256),
        _MQA_M4,
        _uib(5, 0, 1024, 256),
        _MQA_M4,
        _uib(5, 0, 1024, 256),
    ),
    input_size=256,
    paper=f"{_PAPER} Table 13 (MNv4-Hybrid-M)",
    hybrid=True,
)

_MQA_L3, _MQA_L4 = MQARow(heads=8, key_dim=48, out=192, kv_stride=2), MQARow(heads=8, key_dim=64, out=512)

MOBILENET_V4_HYBRID_LARGE = _v4(
    stem=24,
    blocks=(
        FusedIBRow(3, 96, 48, stride=2),
        _uib(3, 5, 192, 96, stride=2),
        _uib(3, 3, 384, 96),
        _uib(3, 5, 384, 192, stride=2),
        *_times(3, _uib(3, 3, 768, 192)),
        _uib(3, 5, 768, 192),
        *_times(2, _uib(5, 3, 768, 192)),
        _MQA_L3,
        _uib(5, 3, 768, 192),
        _MQA_L3,
        _uib(5, 3, 768, 192),
        _MQA_L3,
        _uib(5, 3, 768, 192),
        _MQA_L3,
        _uib(3, 0, 768, 192),
        _uib(5, 5, 768, 512, stride=2),
        *_times(3, _uib(5, 5, 2048, 512)),
        _uib(5, 0, 2048, 512),
        _uib(5, 3, 2048, 512),
        *_times(2, _uib(5, 0, 2048, 512)),
        _uib(5, 3, 2048, 512),
        _uib(5, 5, 2048, 512),
        _MQA_L4,
        _uib(5, 0, 2048, 512),
        _MQA_L4,
        _uib(5, 0, 2048, 512),
        _MQA_L4,
        _uib(5, 0, 2048, 512),
        _MQA_L4,
        _uib(5, 0, 2048, 512),
    ),
    input_size=384,
    paper=f"{_PAPER}, MNv4-Hybrid-L",
    act="gelu",  # the only V4 model with GELU (exact, not the tanh approximation), as released
    hybrid=True,
)
