"""Folding fixed affine maps into the convolution before them, for inference and export.

In eval mode a BatchNorm2d is a fixed per-channel affine map, ``y = (x - mean) / sqrt(var + eps)
* gamma + beta``, so it can be merged into the preceding convolution's weights and bias. The
folded network computes the same function with one layer fewer per ``ConvBnAct``: less memory
traffic at run time, and exported graphs (ONNX, ExecuTorch) that no longer depend on each
runtime's own fusion passes. The result is eval-only: training it would train a different model.

The same holds for the hard-sigmoid gate of V3's squeeze-and-excite, ``relu6(z + 3) / 6``: its
shift and scale fold into the expand convolution that produces ``z``, leaving a plain clamp to
[0, 1], which runtimes fuse into the convolution as its output bounds. Otherwise the gate is
three tiny element-wise ops per block (add, clamp, divide), and on a model as small as V3-Small
their dispatch cost is measurable (XNNPACK: about 5% of fp32 and int8 latency at batch 1).

MobileNetV4 adds two cases:

- **LayerScale** (the hybrids) multiplies each channel of a block's output by ``gamma`` after
  the projection's BN (UIB) or after the attention's output conv (Mobile MQA). Both are
  convolutions straight before it, so ``gamma`` folds into their weights and bias exactly,
  and the quantizers never see a tensor scaled by 1e-5 apart from the conv that made it.
- **Mobile MQA's pre-norm BN** normalizes the block's *input*, which is also the residual
  shortcut, so it cannot fold backwards into the previous block. It could fold forwards into
  the 1x1 query, key and value convs, but not through the stride-2 depthwise K/V downsampling
  of the medium and large hybrids: those pad with zeros, and a zero after the BN is not a zero
  before it, so the border pixels would change. It stays a BatchNorm (an eval-mode per-channel
  affine, ``BatchNormalization`` in ONNX), one per attention block.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from mobilenets.models.layers import ConvBnAct, SqueezeExcite
from mobilenets.models.mobile_mqa import MobileMQA
from mobilenets.models.uib import LayerScale, UniversalInvertedBottleneck


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


@torch.no_grad()
def fold_gate_affine(model: nn.Module) -> nn.Module:
    """Fold each SE block's hard-sigmoid shift and scale into its expand convolution, in place.

    ``hardsigmoid(W x + b) = clamp((W / 6) x + (b + 3) / 6, 0, 1)``, so the expand conv takes
    the scaled weights and shifted bias, and the gate becomes ``Hardtanh(0, 1)``.

    Args:
        model: an eval-mode copy (see ``fold_for_inference``); other gates are left alone.

    Returns:
        ``model``.
    """
    for module in model.modules():
        if isinstance(module, SqueezeExcite) and isinstance(module.gate, nn.Hardsigmoid):
            expand = module.expand
            assert expand.bias is not None
            expand.weight.mul_(1 / 6)
            expand.bias.add_(3).mul_(1 / 6)
            module.gate = nn.Hardtanh(0.0, 1.0)  # type: ignore[assignment]
    return model


@torch.no_grad()
def fold_layer_scale(model: nn.Module) -> nn.Module:
    """Fold each V4 block's LayerScale into the convolution before it, in place.

    ``gamma * (W x + b) = (gamma W) x + gamma b``: in a UIB the projection conv (its BN folded
    already, see ``fold_batchnorm``), in Mobile MQA the output conv. The LayerScale slot becomes
    ``nn.Identity``.

    Args:
        model: an eval-mode copy whose batch norms are folded (see ``fold_for_inference``).

    Returns:
        ``model``.
    """
    for module in model.modules():
        scale = getattr(module, "layer_scale", None)
        if not isinstance(scale, LayerScale):
            continue
        if isinstance(module, UniversalInvertedBottleneck):
            conv = module.project.conv
            if not isinstance(module.project.bn, nn.Identity):
                raise ValueError("fold_layer_scale needs the projection's BN folded first (fold_batchnorm)")
        elif isinstance(module, MobileMQA):
            conv = module.output
        else:  # a block this function does not know: leave it as it is
            continue
        assert isinstance(conv, nn.Conv2d)
        gamma = scale.gamma.detach().double()
        conv.weight.copy_((conv.weight.double() * gamma.view(-1, 1, 1, 1)).to(conv.weight.dtype))
        if conv.bias is not None:
            conv.bias.copy_((conv.bias.double() * gamma).to(conv.bias.dtype))
        module.layer_scale = nn.Identity()
    return model


def fold_for_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with batch norms, SE gate affines and LayerScales folded.

    This is what every export and benchmark backend runs; the original model is untouched.
    Mobile MQA's pre-norm BatchNorms stay (see the module docstring).
    """
    return fold_layer_scale(fold_gate_affine(fold_batchnorm(model)))


def count_batchnorms(model: nn.Module) -> int:
    """How many BatchNorm layers remain in ``model`` (after ``fold_batchnorm``: 0 for V1-V4's
    convolutional models, one pre-norm per Mobile MQA block for the V4 hybrids)."""
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
