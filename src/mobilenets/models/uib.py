"""MobileNetV4's convolutional blocks: the Universal Inverted Bottleneck and the fused one.

Sub-layer names (``start_dw``, ``expand``, ``mid_dw``, ``project``, ``layer_scale``) are what the
weight converters, the quantizers and the profiler address.
"""

from __future__ import annotations

import torch
from torch import nn

from mobilenets.models.layers import ConvBnAct, ConvOptions, has_residual


class LayerScale(nn.Module):
    """A learned per-channel scale on a residual branch (CaiT's LayerScale), ``gamma``.

    Started small (1e-5 in the V4 hybrids), each block begins close to the identity, which lets
    deep hybrids with attention train stably.
    """

    def __init__(self, channels: int, init_value: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), init_value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1)


class UniversalInvertedBottleneck(nn.Module):
    """The UIB block of MobileNetV4 (Figure 4 of the paper).

    1. ``start_dw``: optional depthwise k x k on the narrow input, BN, *no* activation.
    2. ``expand``: pointwise 1x1 to the expanded width, BN, activation.
    3. ``mid_dw``: optional depthwise k x k on the expanded features, BN, activation.
    4. ``project``: linear pointwise 1x1 back to the output width, BN, no activation (as in V2).
    5. ``layer_scale``: the hybrids' per-channel scale, then the residual when the skip rule holds.

    With both depthwise convs it is the paper's ExtraDW, with only ``mid_dw`` the inverted
    bottleneck of V2/V3 (IB), with only ``start_dw`` ConvNext-like, with neither an FFN. A stride
    of 2 goes to ``mid_dw`` when there is one (downsampling the wide features, as IB does), else
    to ``start_dw``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expanded_channels: int,
        start_dw_kernel: int = 0,
        mid_dw_kernel: int = 3,
        stride: int = 1,
        act: str = "relu",
        options: ConvOptions = ConvOptions(),
        layer_scale: float | None = None,
    ) -> None:
        super().__init__()
        if stride != 1 and not (start_dw_kernel or mid_dw_kernel):
            raise ValueError(
                f"stride={stride} needs a depthwise conv to carry it, but this UIB has none (an "
                "FFN: start_dw=0, mid_dw=0). Give the row a start_dw or mid_dw kernel, or stride 1."
            )
        self.has_skip = has_residual(stride, in_channels, out_channels)
        self.start_dw: nn.Module = nn.Identity()
        if start_dw_kernel:
            start_stride = 1 if mid_dw_kernel else stride
            self.start_dw = ConvBnAct(
                in_channels, in_channels, start_dw_kernel, start_stride, groups=in_channels,
                act="identity", options=options,
            )  # fmt: skip
        self.expand = ConvBnAct(in_channels, expanded_channels, 1, act=act, options=options)
        self.mid_dw: nn.Module = nn.Identity()
        if mid_dw_kernel:
            self.mid_dw = ConvBnAct(
                expanded_channels, expanded_channels, mid_dw_kernel, stride, groups=expanded_channels,
                act=act, options=options,
            )  # fmt: skip
        self.project = ConvBnAct(expanded_channels, out_channels, 1, act="identity", options=options)
        self.layer_scale: nn.Module = (
            LayerScale(out_channels, layer_scale) if layer_scale is not None else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.start_dw(x)
        x = self.expand(x)
        x = self.mid_dw(x)
        x = self.project(x)
        x = self.layer_scale(x)
        if self.has_skip:
            x = x + shortcut
        return x


class FusedInvertedBottleneck(nn.Module):
    """MobileNetV4's FusedIB: the expansion and the depthwise conv fused into one full k x k conv.

    ``expand`` (k x k, stride, BN, activation) then ``project`` (linear 1x1, BN). Early, at high
    resolution and few channels, a full convolution runs faster on accelerators than a 1x1 plus a
    depthwise pair, for the same receptive field.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expanded_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        act: str = "relu",
        options: ConvOptions = ConvOptions(),
    ) -> None:
        super().__init__()
        self.has_skip = has_residual(stride, in_channels, out_channels)
        self.expand = ConvBnAct(in_channels, expanded_channels, kernel_size, stride, act=act, options=options)
        self.project = ConvBnAct(expanded_channels, out_channels, 1, act="identity", options=options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.expand(x))
        return out + x if self.has_skip else out
