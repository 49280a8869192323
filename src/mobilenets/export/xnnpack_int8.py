"""The XNNPACK int8 quantizer as the ExecuTorch export configures it for MobileNets.

Three departures from ``XNNPACKQuantizer`` with its stock symmetric per-channel config, each
measured on torchvision's MobileNetV2 and held-out photo crops:

- **Conv + clamp is one quantized op.** The stock quantizer fuses a convolution with a
  following ReLU, but not with a Hardtanh (ReLU6, and V3's SE gate once folded to a clamp, see
  ``fold``). The Hardtanh then shares the convolution's observer, so the clamped output is
  stored on the grid of the unclamped pre-activation: in V2 the pre-activations of ReLU6
  layers span up to tens of units while the outputs span [0, 6], several times coarser than
  needed, on almost every layer. Here the convolution's output is left unobserved and the
  clamp's output gets its own range, as ONNX Runtime does after fusing Conv + Clip. XNNPACK's
  lowering then fuses the clamp into the convolution's output bounds.
- **Activation ranges at a percentile** (``PercentileObserver``), as the int8 ONNX export.
- **No floor on weight scales.** The stock config floors every weight scale at 2**-12; folded
  MobileNet channels often need less (V2: 232 of 18,056 output channels, 111 of 960 in the
  last expand conv), and the floor coarsens them up to a few times over. XNNPACK's kernels
  need no such floor, so the weights keep the observer's float32 default, and their grid is
  the one ``bias_correction.round_to_int8_grid`` corrects for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from mobilenets.export.foreign_noise import foreign_notices_muted

if TYPE_CHECKING:
    from torch.fx import GraphModule, Node
    from torchao.quantization.pt2e.quantizer import QuantizationConfig, Quantizer

CLAMPS = (torch.ops.aten.hardtanh.default, torch.ops.aten.hardtanh_.default)
CONVOLUTIONS = (torch.ops.aten.conv2d.default,)


def xnnpack_int8_config() -> QuantizationConfig:
    """XNNPACK's symmetric per-channel static int8 config, with the observers described above."""
    with foreign_notices_muted():
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            get_symmetric_quantization_config,
        )
        from torchao.quantization.pt2e.observer import PerChannelMinMaxObserver

        from mobilenets.export.percentile_observer import PercentileObserver

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    assert config.output_activation is not None and config.weight is not None
    # XNNPACK's own activation observer arguments (its minimum scale) carry over.
    default = config.output_activation.observer_or_fake_quant_ctr
    arguments = getattr(getattr(default, "p", None), "keywords", {})
    activations = dataclasses.replace(
        config.output_activation, observer_or_fake_quant_ctr=PercentileObserver.with_args(**arguments)
    )
    weights = dataclasses.replace(
        config.weight, observer_or_fake_quant_ctr=PerChannelMinMaxObserver.with_args()
    )
    return dataclasses.replace(
        config, input_activation=activations, output_activation=activations, weight=weights
    )


def annotate_conv_clamp(
    graph: GraphModule, config: QuantizationConfig, node_filter: Callable[[Node], bool] | None = None
) -> int:
    """Annotate every convolution followed only by a Hardtanh as one quantized op.

    The convolution's input and weight are quantized, its output is not; the Hardtanh's
    output is. Nodes already annotated, or rejected by ``node_filter``, are left alone.

    Returns:
        How many convolution + clamp pairs were annotated.
    """
    from torch.fx import Node
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation
    from torchao.quantization.pt2e.quantizer.quantizer import Q_ANNOTATION_KEY

    def annotated(node: Node) -> bool:
        annotation = node.meta.get(Q_ANNOTATION_KEY)
        return annotation is not None and annotation._annotated

    pairs = 0
    for clamp in graph.graph.nodes:
        if clamp.op != "call_function" or clamp.target not in CLAMPS:
            continue
        conv = clamp.args[0]
        if not isinstance(conv, Node) or conv.op != "call_function" or conv.target not in CONVOLUTIONS:
            continue
        if len(conv.users) > 1:  # the unclamped output is needed elsewhere: keep it observable
            continue
        activation, weight = conv.args[0], conv.args[1]
        bias = conv.args[2] if len(conv.args) > 2 else None
        assert isinstance(activation, Node) and isinstance(weight, Node)
        nodes = [conv, clamp, weight] + ([bias] if isinstance(bias, Node) else [])
        if any(annotated(node) for node in nodes):
            continue
        if node_filter is not None and not all(node_filter(node) for node in nodes):
            continue
        inputs = {activation: config.input_activation, weight: config.weight}
        if isinstance(bias, Node):
            inputs[bias] = config.bias
        conv.meta[Q_ANNOTATION_KEY] = QuantizationAnnotation(input_qspec_map=inputs, _annotated=True)
        clamp.meta[Q_ANNOTATION_KEY] = QuantizationAnnotation(
            output_qspec=config.output_activation, _annotated=True
        )
        weight.meta[Q_ANNOTATION_KEY] = QuantizationAnnotation(_annotated=True)
        if isinstance(bias, Node):
            bias.meta[Q_ANNOTATION_KEY] = QuantizationAnnotation(_annotated=True)
        pairs += 1
    return pairs


def xnnpack_int8_quantizer(node_filter: Callable[[Node], bool] | None = None) -> Quantizer:
    """The XNNPACK quantizer with ``xnnpack_int8_config`` and convolution + clamp fusion.

    Args:
        node_filter: graph nodes for which it returns False stay in float.
    """
    with foreign_notices_muted():
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    class ConvClampXnnpackQuantizer(XNNPACKQuantizer):
        def annotate(self, model: GraphModule) -> GraphModule:
            # First, so XNNPACK's own annotators find these nodes taken and skip them.
            assert self.global_config is not None
            annotate_conv_clamp(model, self.global_config, self.filter_fn)
            return super().annotate(model)

    quantizer = ConvClampXnnpackQuantizer()
    quantizer.set_global(xnnpack_int8_config())
    if node_filter is not None:
        quantizer.set_filter_function(node_filter)
    return quantizer
