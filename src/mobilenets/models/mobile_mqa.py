"""MobileNetV4's Mobile MQA block: multi-query attention built from convolutions (Section 4).

Multi-query attention keeps many query heads but one key and one value head shared by all of
them, so the keys and values, the memory-bound part of attention on a phone, shrink by the head
count. The hybrids also downsample keys and values with a stride-2 depthwise conv in the
higher-resolution stage, dividing the attention's cost by 4 again for a small loss of accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mobilenets.models.layers import ConvBnAct, ConvOptions, has_residual
from mobilenets.models.uib import LayerScale


class AttentionMatmuls(nn.Module):
    """softmax(Q·Kᵀ / sqrt(d))·V, as its own module so that the profiler can count it.

    Q·Kᵀ and the product with V are matrix products between activations: no weights, and a cost
    that grows with the square of the number of positions. They are reported as a kind of their
    own, apart from the convolutions.
    """

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(query, key, value)


class MobileMQA(nn.Module):
    """Pre-norm Mobile MQA with a residual: ``x + layer_scale(attention(norm(x)))``.

    Sub-layers: ``norm`` (BN), ``query`` (1x1 to heads x key_dim), ``key_down`` / ``value_down``
    (depthwise k x k, stride ``kv_stride``, BN; identity when the stride is 1), ``key`` and
    ``value`` (1x1 to one head each), ``attend``, ``output`` (1x1 back to the block's width),
    ``layer_scale``.
    """

    def __init__(
        self,
        channels: int,
        out_channels: int,
        heads: int,
        key_dim: int,
        kv_stride: int = 1,
        kv_kernel: int = 3,
        options: ConvOptions = ConvOptions(),
        layer_scale: float | None = None,
    ) -> None:
        super().__init__()
        self.heads, self.key_dim, self.value_dim = heads, key_dim, key_dim
        self.has_skip = has_residual(1, channels, out_channels)
        self.norm = nn.BatchNorm2d(channels, eps=options.bn_eps, momentum=options.bn_momentum)
        self.query = nn.Conv2d(channels, heads * key_dim, 1, bias=False)
        self.key_down = self._downsample(channels, kv_kernel, kv_stride, options)
        self.key = nn.Conv2d(channels, key_dim, 1, bias=False)
        self.value_down = self._downsample(channels, kv_kernel, kv_stride, options)
        self.value = nn.Conv2d(channels, self.value_dim, 1, bias=False)
        self.attend = AttentionMatmuls()
        self.output = nn.Conv2d(heads * self.value_dim, out_channels, 1, bias=False)
        self.layer_scale: nn.Module = (
            LayerScale(out_channels, layer_scale) if layer_scale is not None else nn.Identity()
        )

    @staticmethod
    def _downsample(channels: int, kernel: int, stride: int, options: ConvOptions) -> nn.Module:
        if stride == 1:
            return nn.Identity()
        return ConvBnAct(channels, channels, kernel, stride, groups=channels, act="identity", options=options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        batch, _, height, width = x.shape
        x = self.norm(x)
        # Queries: (B, heads * d, H, W) -> (B, heads, H*W, d), channels grouped head by head.
        # Contiguous, as timm lays them out: the attention kernel, and so its rounding, follows layout.
        query = self.query(x).reshape(batch, self.heads, self.key_dim, height * width)
        query = query.transpose(-1, -2).contiguous()
        # One key and one value head: (B, 1, h*w, d), broadcast over the query heads.
        key = self.key(self.key_down(x)).flatten(2).transpose(1, 2).unsqueeze(1).contiguous()
        value = self.value(self.value_down(x)).flatten(2).transpose(1, 2).unsqueeze(1).contiguous()
        out = self.attend(query, key, value)  # (B, heads, H*W, d)
        out = out.transpose(-1, -2).reshape(batch, self.heads * self.value_dim, height, width)
        out = self.layer_scale(self.output(out))
        return out + shortcut if self.has_skip else out
