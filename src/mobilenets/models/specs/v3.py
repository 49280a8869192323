"""MobileNetV3: Howard et al. 2019, "Searching for MobileNetV3", arXiv:1905.02244, Table 1 (Large)
and Table 2 (Small); the minimalistic variants are described in Section 6.1.3 and released with
the TF-slim code."""

from __future__ import annotations

import dataclasses

from mobilenets.models.specs.rows import ArchSpec, BlockSpec


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
    if spec.family != "v3":
        raise ValueError(f"minimalistic needs a V3 spec, got family={spec.family!r}. Pass MOBILENET_V3_*.")
    blocks = tuple(
        dataclasses.replace(block, kernel=3, se=False, act="relu")
        for block in spec.blocks
        if isinstance(block, BlockSpec)
    )
    return dataclasses.replace(
        spec,
        stem_act="relu",
        blocks=blocks,
        final_conv_act="relu",
        head_act="relu",
        paper=spec.paper + ", minimalistic (no SE, ReLU, 3x3)",
    )
