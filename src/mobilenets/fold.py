"""Folding batch norm into the convolution before it, for inference and export.

In eval mode a BatchNorm2d is a fixed per-channel affine map, ``y = (x - mean) / sqrt(var + eps)
* gamma + beta``, so it can be merged into the preceding convolution's weights and bias. The
folded network computes the same function with one layer fewer per ``ConvBnAct``: less memory
traffic at run time, and exported graphs (ONNX, ExecuTorch) that no longer depend on each
runtime's own fusion passes. The result is eval-only: training it would train a different model.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from mobilenets.layers import ConvBnAct


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A copy of ``conv`` whose weights and bias absorb ``bn`` (its running statistics).

    The arithmetic runs in float64 and is cast back, so folding adds no more than the
    rounding of the final float32 weights.

    Args:
        conv: the convolution (any padding mode; ``Conv2dSame`` keeps its class).
        bn: the batch norm that follows it, in eval mode.

    Returns:
        A new convolution of the same class with a bias.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm2d without running statistics (track_running_stats=False)")
    folded = copy.deepcopy(conv)
    weight = conv.weight.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(bn.running_var).double()
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(bn.running_mean).double()
    scale = gamma / torch.sqrt(bn.running_var.double() + bn.eps)  # (C_out,)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    folded.weight = nn.Parameter((weight * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype))
    folded.bias = nn.Parameter((beta + (bias - bn.running_mean.double()) * scale).to(conv.weight.dtype))
    return folded


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every ``ConvBnAct``'s BN folded into its conv.

    The BN slot becomes ``nn.Identity``, so module names (``blocks.3.dw.conv``) stay stable
    for the profiler and quantizers. The original model is left untouched. Attributes that
    travel with a MobileNet (``preprocess``, ``labels``, ``config``) are kept by the copy.

    Args:
        model: a MobileNet (or any module built from ``ConvBnAct``).

    Returns:
        The folded copy, in eval mode.
    """
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if isinstance(module, ConvBnAct) and isinstance(module.bn, nn.BatchNorm2d):
            assert isinstance(module.conv, nn.Conv2d)
            module.conv = fold_conv_bn(module.conv, module.bn)
            module.bn = nn.Identity()  # type: ignore[assignment]
    return folded


def count_batchnorms(model: nn.Module) -> int:
    """How many BatchNorm layers remain in ``model`` (0 after ``fold_batchnorm``)."""
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def folding_error(model: nn.Module, folded: nn.Module, inputs: torch.Tensor) -> float:
    """The largest absolute output difference between ``model`` (eval) and its folded copy.

    Args:
        model: the original model.
        folded: the result of ``fold_batchnorm(model)``.
        inputs: a batch to compare on.

    Returns:
        ``max |model(x) - folded(x)|``.
    """
    was_training = model.training
    model.eval()
    try:
        reference, candidate = model(inputs), folded(inputs)
    finally:
        model.train(was_training)
    return float((reference - candidate).abs().max())
