"""Building blocks shared by every MobileNet generation.

Each block names its sub-layers explicitly (``dw``, ``pw``, ``expand``, ``se``, ``project``)
because weight converters, quantizers and the profiler address layers by these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

ActName = Literal["relu", "relu6", "hardswish", "hardsigmoid", "gelu", "identity"]
PaddingMode = Literal["symmetric", "tf_same"]
AntiAlias = Literal["avg", "blur"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "hardswish": nn.Hardswish,
    "hardsigmoid": nn.Hardsigmoid,
    "gelu": nn.GELU,  # exact (erf); MobileNetV4-Hybrid-L's released weights use it
    "identity": nn.Identity,
}


@dataclass(frozen=True)
class ConvOptions:
    """Settings every convolution in one network shares.

    Args:
        padding: 'symmetric' (PyTorch style, k // 2 on each side) or 'tf_same' (TensorFlow
            'SAME', needed to reproduce TF/Keras-trained weights exactly).
        bn_eps: BatchNorm epsilon; TF-born weights use 1e-3, torchvision's V2 1e-5.
        bn_momentum: BatchNorm momentum in PyTorch's convention (1 - Keras momentum).
        anti_alias: None, or how strided convolutions downsample without aliasing: the conv
            runs at stride 1 and, after its BN and activation, a 2x2 average ('avg') or a
            binomial blur ('blur') pools with the stride (Zhang 2019, "Making Convolutional
            Networks Shift-Invariant Again"; timm's ``mobilenetv4_conv_aa_*`` / ``_blur_*``).
    """

    padding: PaddingMode = "symmetric"
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    anti_alias: AntiAlias | None = None


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor``.

    This is the rule of TF-slim's ``_make_divisible`` (used by the V2 and V3 reference code):
    hardware kernels prefer channel counts that are multiples of 8, but rounding must never
    remove more than 10% of the requested width, or small models would lose too much capacity.

    Args:
        value: the requested (possibly fractional) channel count, e.g. ``24 * 0.35``.
        divisor: the multiple to round to.
        min_value: the smallest result allowed; defaults to ``divisor``.

    Returns:
        The rounded channel count.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def has_residual(stride: int, in_channels: int, out_channels: int) -> bool:
    """The skip rule of every residual MobileNet block (V2, V3, V4): the block's output can be added
    to its input exactly when it keeps both the resolution (stride 1) and the width."""
    return stride == 1 and in_channels == out_channels


def create_activation(name: str) -> nn.Module:
    """Instantiate an activation by name (one of ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"act={name!r} is not a known activation; choose one of {sorted(ACTIVATIONS)}"
        ) from None


def tf_same_pad_amounts(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Padding (before, after) that TensorFlow's 'SAME' applies along one axis.

    TF pads so that the output is ceil(size / stride) and puts the odd pixel at the end
    (bottom/right). PyTorch's symmetric padding puts it on both sides, which shifts every
    stride-2 window by one pixel and is why TF-trained weights need this mode to match exactly.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """A Conv2d padded exactly like TF 'SAME' for any input size (computed per forward)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        sh, sw = self.stride
        top, bottom = tf_same_pad_amounts(x.shape[-2], kh, sh, self.dilation[0])
        left, right = tf_same_pad_amounts(x.shape[-1], kw, sw, self.dilation[1])
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def create_conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    groups: int = 1,
    bias: bool = False,
    padding: PaddingMode = "symmetric",
) -> nn.Conv2d:
    """A Conv2d whose padding follows ``padding``.

    With 'tf_same', only strided convolutions need the dynamic, asymmetric padding: for
    stride 1 and an odd kernel, TF 'SAME' is the same as symmetric padding of k // 2, and a
    static padding keeps those layers plain ``nn.Conv2d`` for export and fusion.
    """
    if padding == "tf_same" and stride > 1:
        return Conv2dSame(in_channels, out_channels, kernel_size, stride, 0, groups=groups, bias=bias)
    return nn.Conv2d(
        in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=bias
    )


class BlurPool(nn.Module):
    """Blur with the binomial 3x3 filter [1, 2, 1]ᵀ[1, 2, 1] / 16, then keep every ``stride``-th pixel.

    Zero padding of 1 on each side, one filter per channel; the filter is fixed, not learned,
    so it is a buffer that no weights file carries.
    """

    filter: torch.Tensor

    def __init__(self, channels: int, stride: int = 2) -> None:
        super().__init__()
        self.channels, self.stride = channels, stride
        taps = torch.tensor([1.0, 2.0, 1.0]) / 4
        self.register_buffer(
            "filter", (taps[:, None] * taps[None, :]).expand(channels, 1, 3, 3).clone(), False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1)), self.filter, stride=self.stride, groups=self.channels)


def create_anti_alias(kind: str, channels: int, stride: int) -> nn.Module:
    """The pooling that downsamples after a stride-1 conv: 'avg' or 'blur' (see ``ConvOptions``)."""
    if kind == "avg":
        return nn.AvgPool2d(stride)
    if kind == "blur":
        return BlurPool(channels, stride)
    raise ValueError(f"anti_alias={kind!r} is not known; choose 'avg', 'blur' or None")


class ConvBnAct(nn.Sequential):
    """Convolution, batch norm, activation: sub-layers ``conv``, ``bn``, ``act``.

    With ``options.anti_alias`` and a stride above 1, the conv runs at stride 1 and a fourth
    sub-layer ``aa`` downsamples after the activation.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        act: str = "relu",
        options: ConvOptions = ConvOptions(),
    ) -> None:
        super().__init__()
        anti_alias = options.anti_alias if stride > 1 else None
        self.conv = create_conv2d(
            in_channels, out_channels, kernel_size, 1 if anti_alias else stride, groups=groups,
            padding=options.padding,
        )  # fmt: skip
        self.bn = nn.BatchNorm2d(out_channels, eps=options.bn_eps, momentum=options.bn_momentum)
        self.act = create_activation(act)
        if anti_alias:
            self.aa = create_anti_alias(anti_alias, out_channels, stride)


class SqueezeExcite(nn.Module):
    """Channel attention of MobileNetV3 (Section 5.3): pool, reduce, ReLU, expand, hard-sigmoid gate.

    The 1x1 convolutions carry biases (there is no BN inside), as in the reference code.
    """

    def __init__(self, channels: int, reduced_channels: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced_channels, 1, bias=True)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(reduced_channels, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        scale = self.gate(self.expand(self.act(self.reduce(scale))))
        return x * scale


class DepthwiseSeparable(nn.Module):
    """The MobileNetV1 block (Figure 3 of the V1 paper).

    A depthwise k x k convolution filters each channel on its own (``dw``), then a pointwise
    1 x 1 convolution mixes channels (``pw``); both are followed by BN and the activation.
    ``depth_multiplier`` gives each input channel that many depthwise filters (Keras semantics).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        kernel_size: int = 3,
        depth_multiplier: int = 1,
        act: str = "relu",
        options: ConvOptions = ConvOptions(),
    ) -> None:
        super().__init__()
        dw_channels = in_channels * depth_multiplier
        self.dw = ConvBnAct(
            in_channels, dw_channels, kernel_size, stride, groups=in_channels, act=act, options=options
        )
        self.pw = ConvBnAct(dw_channels, out_channels, 1, act=act, options=options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


class InvertedResidual(nn.Module):
    """The MobileNetV2/V3 bottleneck (V2 Figure 3b, V3 Figure 4).

    1. ``expand``: pointwise 1x1 to the expanded width, BN, activation (absent when the
       expansion ratio is 1, as in V2's first block: it would be a needless identity-sized conv).
    2. ``dw``: depthwise k x k with the stride, BN, activation.
    3. ``se``: optional squeeze-excite on the expanded features (V3).
    4. ``project``: linear pointwise 1x1 back to the narrow width, BN and *no* activation: the
       V2 paper shows a non-linearity in the low-dimensional bottleneck destroys information.

    The residual connection exists exactly when stride is 1 and input and output widths match.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expanded_channels: int,
        stride: int = 1,
        kernel_size: int = 3,
        se_channels: int = 0,
        depth_multiplier: int = 1,
        act: str = "relu6",
        options: ConvOptions = ConvOptions(),
    ) -> None:
        super().__init__()
        self.has_skip = has_residual(stride, in_channels, out_channels)
        self.expand = (
            ConvBnAct(in_channels, expanded_channels, 1, act=act, options=options)
            if expanded_channels != in_channels
            else nn.Identity()
        )
        dw_channels = expanded_channels * depth_multiplier
        self.dw = ConvBnAct(
            expanded_channels,
            dw_channels,
            kernel_size,
            stride,
            groups=expanded_channels,
            act=act,
            options=options,
        )
        self.se = SqueezeExcite(dw_channels, se_channels) if se_channels else nn.Identity()
        self.project = ConvBnAct(dw_channels, out_channels, 1, act="identity", options=options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.expand(x)
        x = self.dw(x)
        x = self.se(x)
        x = self.project(x)
        if self.has_skip:
            x = x + shortcut
        return x
