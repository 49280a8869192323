"""The ExecuTorch int8 quantizer: convolution + clamp (ReLU6) quantized as one op."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip(
    "executorch", reason="ExecuTorch export needs the deploy extra: pip install 'mobilenets[deploy]'"
)

from mobilenets.export.onnx_export import quiet_export


def prepared(quantizer_name: str) -> torch.fx.GraphModule:
    """A conv -> ReLU6 -> conv network, prepared and calibrated with the named quantizer."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    from mobilenets.export.xnnpack_int8 import xnnpack_int8_config, xnnpack_int8_quantizer

    torch.manual_seed(0)
    # Weights large enough that pre-activations span tens of units while ReLU6 keeps [0, 6].
    network = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(), nn.Conv2d(8, 4, 1)).eval()
    with torch.no_grad():
        network[0].weight.mul_(20)
    inputs = torch.randn(8, 3, 16, 16)
    if quantizer_name == "ours":
        quantizer = xnnpack_int8_quantizer()
    else:
        quantizer = XNNPACKQuantizer()
        quantizer.set_global(xnnpack_int8_config())
    captured = torch.export.export(network, (inputs,)).module()
    graph = prepare_pt2e(captured, quantizer)
    graph(inputs)
    return graph


def clamp_nodes(graph: torch.fx.GraphModule) -> list[torch.fx.Node]:
    return [node for node in graph.graph.nodes if node.target == torch.ops.aten.hardtanh.default]


def test_clamp_output_gets_its_own_range_and_conv_output_none() -> None:
    with quiet_export():
        ours, stock = prepared("ours"), prepared("stock")
    (clamp,) = clamp_nodes(ours)
    conv = clamp.args[0]
    assert conv.target == torch.ops.aten.conv2d.default  # no observer between conv and clamp
    (observer_node,) = list(clamp.users)
    observer = ours.get_submodule(str(observer_node.target))
    assert float(observer.min_val) >= 0.0 and float(observer.max_val) <= 6.0

    # XNNPACK's stock annotation observes the unclamped convolution output instead, and the
    # clamp shares that range: the situation the fusion exists to avoid.
    (stock_clamp,) = clamp_nodes(stock)
    assert stock_clamp.args[0].op == "call_module"  # an observer sits between conv and clamp
    stock_observer = stock.get_submodule(str(stock_clamp.args[0].target))
    assert float(stock_observer.max_val) - float(stock_observer.min_val) > 3 * 6.0
