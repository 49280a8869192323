"""Building blocks: rounding, padding, block structure."""

import math

import pytest
import torch
from torch import nn

from mobilenets.models.layers import (
    Conv2dSame,
    ConvOptions,
    DepthwiseSeparable,
    InvertedResidual,
    create_activation,
    create_conv2d,
    make_divisible,
    tf_same_pad_amounts,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (32 * 0.35, 16),  # 11.2 rounds to 8, but 8 < 0.9 * 11.2, so one more step
        (18.0, 24),  # 16 would lose more than 10%
        (24 * 0.35, 8),
        (96 * 0.35, 32),
        (64 * 1.4, 88),
        (3.0, 8),  # never below the divisor
        (184.0, 184),
        (80 * 0.75 * 2.3, 136),  # 138 -> 136 (within 10%)
    ],
)
def test_make_divisible_follows_tf_slim(value: float, expected: int) -> None:
    assert make_divisible(value) == expected


def test_make_divisible_never_loses_more_than_ten_percent() -> None:
    for tenths in range(10, 5000):
        value = tenths / 10
        result = make_divisible(value)
        assert result % 8 == 0 and result >= 8
        assert result >= 0.9 * value


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(224, 3, 2, (0, 1)), (225, 3, 2, (1, 1)), (28, 5, 2, (1, 2)), (7, 3, 1, (1, 1)), (1, 3, 2, (1, 1))],
)
def test_tf_same_padding_amounts(size: int, kernel: int, stride: int, expected: tuple[int, int]) -> None:
    before, after = tf_same_pad_amounts(size, kernel, stride)
    assert (before, after) == expected
    # TF 'SAME' always yields ceil(size / stride) outputs.
    assert (size + before + after - kernel) // stride + 1 == math.ceil(size / stride)


def test_conv2d_same_matches_explicit_asymmetric_padding() -> None:
    torch.manual_seed(0)
    conv = Conv2dSame(3, 4, 3, 2, 0, bias=False)
    x = torch.randn(1, 3, 224, 224)
    # For an even input and k=3, s=2, TF pads nothing on top/left and one pixel bottom/right.
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 0, 1)), conv.weight, stride=2)
    torch.testing.assert_close(conv(x), expected)


def test_create_conv2d_uses_dynamic_padding_only_where_it_matters() -> None:
    assert isinstance(create_conv2d(8, 8, 3, 2, padding="tf_same"), Conv2dSame)
    assert type(create_conv2d(8, 8, 3, 1, padding="tf_same")) is nn.Conv2d
    assert type(create_conv2d(8, 8, 3, 2)) is nn.Conv2d


def test_unknown_activation_names_choices() -> None:
    with pytest.raises(ValueError, match=r"act='swish'.*relu6"):
        create_activation("swish")


def test_depthwise_separable_has_named_parts_and_multiplier() -> None:
    block = DepthwiseSeparable(16, 32, stride=2, depth_multiplier=2)
    assert block.dw.conv.groups == 16 and block.dw.conv.out_channels == 32
    assert block.pw.conv.in_channels == 32 and block.pw.conv.kernel_size == (1, 1)
    assert block(torch.randn(1, 16, 32, 32)).shape == (1, 32, 16, 16)


@pytest.mark.parametrize(
    ("in_chs", "out_chs", "stride", "has_skip"), [(16, 16, 1, True), (16, 16, 2, False), (16, 24, 1, False)]
)
def test_inverted_residual_skip_rule(in_chs: int, out_chs: int, stride: int, has_skip: bool) -> None:
    block = InvertedResidual(in_chs, out_chs, in_chs * 6, stride=stride)
    assert block.has_skip is has_skip


def test_inverted_residual_skip_adds_the_input() -> None:
    block = InvertedResidual(8, 8, 48).eval()
    nn.init.zeros_(block.project.bn.weight)  # branch output is then exactly the BN bias: 0
    x = torch.randn(2, 8, 10, 10)
    torch.testing.assert_close(block(x), x)


def test_inverted_residual_projection_is_linear_and_expansion_optional() -> None:
    block = InvertedResidual(16, 24, 16, se_channels=8, options=ConvOptions(bn_eps=1e-3))
    assert isinstance(block.expand, nn.Identity)  # expansion ratio 1: no expand conv
    assert isinstance(block.project.act, nn.Identity)  # linear bottleneck
    assert block.se.reduce.out_channels == 8
    assert isinstance(block.se.gate, nn.Hardsigmoid)
    assert block.dw.bn.eps == 1e-3
