"""Exact cost of a network: Mult-Adds and parameters, per layer and per kind of layer.

The figures are counted from the model itself, by forward hooks on one real forward pass at
the requested input size, so they follow any width multiplier, resolution, depth multiplier or
custom module without a second, hand-written table that could drift from the code.

Convention (the papers' and torchvision's):

- A convolution (``nn.Conv2d`` or a subclass) costs
  ``out_h * out_w * out_channels * (k_h * k_w * in_channels / groups)`` multiply-accumulates;
  a linear layer ``in_features * out_features``. Other layer types are not counted.
- Bias additions, batch norm, activations, pooling and element-wise operations are free.
- Attention (MobileNetV4's hybrids) costs ``heads * queries * keys * (key_dim + value_dim)`` for
  Q·Kᵀ and attention·V, reported as the kind 'attention matmul' and kept out of the conv +
  linear total; the attention's projections are 1x1 convolutions and counted as such.
- Parameters of a row are the layer's own (weight and bias). Batch-norm parameters belong to
  no row; ``ProfileReport.model_params`` counts every parameter of the model.

With ``elementwise=True`` three element-wise operations are added, at one operation per output
element: the squeeze-excite scaling, the residual additions and hard-swish. They are the
element-wise work that the V3 paper's own cost figures are sometimes said to include; pass it
to see how much they weigh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mobilenets.cost.report import KIND_ATTENTION, KIND_FC, KIND_SE, LayerCost, ProfileReport
from mobilenets.models.layers import InvertedResidual, SqueezeExcite
from mobilenets.models.mobile_mqa import AttentionMatmuls, MobileMQA
from mobilenets.models.mobilenet import MAX_INPUT_SIZE, MobileNet
from mobilenets.models.registry import build_model
from mobilenets.models.uib import FusedInvertedBottleneck, UniversalInvertedBottleneck

KIND_SE_SCALE = "se scale"
KIND_RESIDUAL = "residual add"
KIND_HARDSWISH = "hard-swish"

CONVENTION = (
    "Mult-Adds of convolution and linear layers; bias, batch norm, activations, pooling and "
    "element-wise operations not counted"
)
CONVENTION_ELEMENTWISE = (
    "Mult-Adds of convolution and linear layers, plus one operation per output element for the "
    "SE scaling, residual additions and hard-swish; bias, batch norm, other activations and "
    "pooling not counted"
)


def conv_kind(conv: nn.Conv2d) -> str:
    """Name the kind of a convolution from its groups and kernel.

    Args:
        conv: any 2-D convolution.

    Returns:
        'depthwise KxK' when every input channel has its own filters (groups == in_channels > 1),
        'pointwise 1x1' for an ungrouped 1x1 convolution, and 'standard KxK' otherwise.
    """
    kh, kw = conv.kernel_size
    if conv.groups == conv.in_channels and conv.groups > 1:
        return f"depthwise {kh}x{kw}"
    if (kh, kw) == (1, 1) and conv.groups == 1:
        return "pointwise 1x1"
    return f"standard {kh}x{kw}"


def _own_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def _resolve_input_size(model: nn.Module, input_size: int | Sequence[int] | None) -> tuple[int, int, int]:
    """Turn ``input_size`` into (channels, height, width), with defaults from the model."""
    if isinstance(model, MobileNet):
        channels: int | None = model.config.in_chans
        default: int | None = model.config.default_input_size
    else:
        first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        channels = first_conv.in_channels if first_conv is not None else None
        default = None
    if input_size is None:
        if default is None:
            raise ValueError(
                f"input_size=None, but {type(model).__name__} is not a MobileNet, so it has no "
                "default input size. Pass input_size=224 or (channels, height, width)."
            )
        input_size = default
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    valid = all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    if not valid or len(size) not in (2, 3):
        raise ValueError(
            f"input_size={input_size!r} is not a size; pass an int (square side in pixels), "
            "(height, width) or (channels, height, width), all positive integers."
        )
    if max(size[-2:]) > MAX_INPUT_SIZE:
        raise ValueError(f"input_size={input_size!r}: sides of at most {MAX_INPUT_SIZE} px are supported")
    if len(size) == 3:
        return size[0], size[1], size[2]
    if channels is None:
        raise ValueError(
            f"input_size={input_size!r} gives no channel count and {type(model).__name__} has no "
            "Conv2d to infer it from. Pass input_size=(channels, height, width)."
        )
    return channels, size[0], size[1]


def _attention_hook(name: str, rows: list[LayerCost]) -> Any:
    def hook(_module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        query, key, value = inputs  # (B, heads, queries, d), (B, 1, keys, d), (B, 1, keys, d_v)
        heads, queries, key_dim = query.shape[1:]
        keys, value_dim = key.shape[2], value.shape[3]
        mult_adds = heads * queries * keys * (key_dim + value_dim)
        rows.append(LayerCost(name, KIND_ATTENTION, tuple(output.shape[1:]), mult_adds, 0))

    return hook


RESIDUAL_BLOCKS = (InvertedResidual, UniversalInvertedBottleneck, FusedInvertedBottleneck, MobileMQA)


def _counting_hooks(model: nn.Module, rows: list[LayerCost], elementwise: bool) -> list[Any]:
    """Attach one hook per costed module; each appends its row when the module runs."""
    se_members = {id(sub) for m in model.modules() if isinstance(m, SqueezeExcite) for sub in m.modules()}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, AttentionMatmuls):
            handles.append(module.register_forward_hook(_attention_hook(name, rows)))
            continue
        kind: str | None = None
        per_output = 0  # Mult-Adds for each output element
        if isinstance(module, nn.Conv2d):
            kind = KIND_SE if id(module) in se_members else conv_kind(module)
            kh, kw = module.kernel_size
            per_output = kh * kw * module.in_channels // module.groups
        elif isinstance(module, nn.Linear):
            kind, per_output = KIND_FC, module.in_features
        elif elementwise and isinstance(module, SqueezeExcite):
            kind, per_output = KIND_SE_SCALE, 1
        elif elementwise and isinstance(module, RESIDUAL_BLOCKS) and module.has_skip:
            kind, per_output = KIND_RESIDUAL, 1
        elif elementwise and isinstance(module, nn.Hardswish):
            kind, per_output = KIND_HARDSWISH, 1
        if kind is None:
            continue
        # Element-wise rows own no parameters: the SE's convs are rows of their own.
        params = _own_params(module) if isinstance(module, (nn.Conv2d, nn.Linear)) else 0

        def hook(
            _module: nn.Module,
            _inputs: Any,
            output: torch.Tensor,
            name: str = name,
            kind: str = kind,
            per_output: int = per_output,
            params: int = params,
        ) -> None:
            shape = tuple(output.shape[1:])  # drop the batch dimension (always 1 here)
            rows.append(LayerCost(name, kind, shape, output.numel() * per_output, params))

        handles.append(module.register_forward_hook(hook))
    return handles


def profile(
    model_or_name: nn.Module | str,
    input_size: int | Sequence[int] | None = None,
    *,
    elementwise: bool = False,
    **create_kwargs: Any,
) -> ProfileReport:
    """Count the Mult-Adds and parameters of every layer of a model, exactly.

    Args:
        model_or_name: a model (any ``nn.Module``) or a name for ``build_model``, such as
            'mobilenet_v1_0.75_192'.
        input_size: side in pixels, (height, width) or (channels, height, width). Defaults to
            a MobileNet's own input size, round(224 * resolution_mult).
        elementwise: also count the SE scaling, residual additions and hard-swish.
        **create_kwargs: options for ``build_model`` (``width_mult``, ``depth_multiplier``,
            ...); only with a name.

    Returns:
        A ``ProfileReport``: one row per layer in execution order, totals and a breakdown by kind.
    """
    model: nn.Module
    if isinstance(model_or_name, str):
        # Built on the meta device: shapes without memory, so counting a 4096 px input or a
        # wide model costs nothing (the counts need shapes only).
        with torch.device("meta"):
            model = build_model(model_or_name, **create_kwargs)
        options = ", ".join(f"{key}={value}" for key, value in sorted(create_kwargs.items()))
        label = f"{model_or_name} ({options})" if options else model_or_name
    elif isinstance(model_or_name, nn.Module):
        if create_kwargs:
            raise ValueError(
                f"options {sorted(create_kwargs)} only apply when profile() builds the model from "
                "a name; this model is already built. Pass its name instead, or drop the options."
            )
        model = model_or_name
        label = _label(model)
    else:
        raise ValueError(
            f"profile() takes a model or a model name, got {type(model_or_name).__name__}. "
            "Pass e.g. 'mobilenet_v2' or a torch.nn.Module."
        )
    channels, height, width = _resolve_input_size(model, input_size)
    parameter = next(model.parameters(), None)
    x = torch.zeros(1, channels, height, width, device=parameter.device if parameter is not None else None)

    rows: list[LayerCost] = []
    handles = _counting_hooks(model, rows, elementwise)
    was_training = model.training
    try:
        model.eval()  # dropout and BN statistics must not change, and the counts do not depend on mode
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return ProfileReport(
        model=label,
        input_size=(channels, height, width),
        layers=tuple(rows),
        model_params=sum(p.numel() for p in model.parameters()),
        convention=CONVENTION_ELEMENTWISE if elementwise else CONVENTION,
    )


def _label(model: nn.Module) -> str:
    if isinstance(model, MobileNet):
        cfg = model.config
        return f"{cfg.arch} (width {cfg.width_mult:g})"
    return type(model).__name__
