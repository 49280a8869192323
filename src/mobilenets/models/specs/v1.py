"""MobileNetV1: Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications", arXiv:1704.04861, Table 1 (and Table 4's "Conv MobileNet")."""

from __future__ import annotations

import dataclasses

from mobilenets.models.specs.rows import ArchSpec, BlockSpec


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
