"""ExecuTorch export: a ``.pte`` program lowered to the XNNPACK delegate, fp32 or int8.

A .pte file is what the ExecuTorch runtime loads on Android, iOS and embedded Linux; XNNPACK
is its optimized CPU backend (Arm NEON and x86 AVX kernels). int8 goes through the PT2E flow:
the float graph is captured with ``torch.export``, the XNNPACK quantizer annotates it
(symmetric per-channel int8 weights, asymmetric int8 activations, conv + clamp fused; see
``xnnpack_int8``), observers record ranges on calibration images, and ``convert_pt2e``
turns the ranges into quantize/dequantize pairs that the partitioner then maps onto XNNPACK's
int8 kernels.

A .pte has no free-form metadata slot, so the labels and preprocessing go in a JSON file
beside it (``model.pte.json``), with the same keys as the ONNX metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mobilenets.export.bias_correction import FLOAT_MODULES, int8_ready_network
from mobilenets.export.calibration import calibration_batches
from mobilenets.export.fold import fold_for_inference
from mobilenets.export.foreign_noise import foreign_notices_muted
from mobilenets.export.onnx_export import onnx_metadata, quiet_export
from mobilenets.export.runtimes import require_runtime
from mobilenets.export.xnnpack_int8 import xnnpack_int8_quantizer
from mobilenets.models.mobilenet import MobileNet


def _lower_to_pte(network: nn.Module, example: torch.Tensor, path: Path) -> None:
    with foreign_notices_muted():
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

    exported = torch.export.export(network, (example,))
    program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
    path.write_bytes(program.buffer)


def _outside_float_modules(node: torch.fx.Node) -> bool:
    """True for graph nodes that do not come from the stem or the classifier."""
    stack = node.meta.get("nn_module_stack") or {}
    paths = [str(entry[0]) for entry in stack.values()]
    return not any(path.split(".")[0] in FLOAT_MODULES for path in paths)


def _quantize_pt2e(
    network: nn.Module, calibration: np.ndarray, input_size: tuple[int, ...], keep_float_ends: bool = True
) -> nn.Module:
    """PT2E static int8 quantization with the XNNPACK quantizer, calibrated on ``calibration``."""
    with foreign_notices_muted():
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = xnnpack_int8_quantizer(_outside_float_modules if keep_float_ends else None)
    # Capture with a dynamic batch so calibration can run in batches of any size.
    batch = torch.export.Dim("batch", min=1, max=4096)
    example = torch.randn(2, *input_size)
    captured = torch.export.export(network, (example,), dynamic_shapes=({0: batch},)).module()
    prepared = prepare_pt2e(captured, quantizer)
    with torch.no_grad():
        for images in calibration_batches(calibration):
            prepared(images)
    return convert_pt2e(prepared)


def export_executorch(
    model: MobileNet,
    path: str | Path,
    *,
    int8: bool = False,
    calibration: np.ndarray | None = None,
    batch_size: int = 1,
    bias_correction: bool = True,
) -> Path:
    """Export ``model`` to an ExecuTorch program lowered to XNNPACK.

    Args:
        model: the model (batch norm and SE gate affines are folded first, see ``fold``).
        path: the .pte file to write; ``path + '.json'`` receives labels and preprocessing.
        int8: quantize with the XNNPACK quantizer (needs ``calibration``).
        calibration: (N, C, H, W) float32 preprocessed images for the int8 ranges.
        batch_size: the program's fixed batch size (phones run one image at a time).
        bias_correction: with ``int8``, correct the biases for the weights' rounding
            (``bias_correction``).

    Returns:
        The .pte path written.
    """
    require_runtime("executorch")
    if int8 and (calibration is None or len(calibration) == 0):
        raise ValueError("int8 ExecuTorch export needs calibration images (--calib DIR or digits)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    input_size = tuple(model.preprocess.input_size)
    with quiet_export():
        if int8:
            assert calibration is not None
            network = int8_ready_network(model, calibration, bias_correction)
            network = _quantize_pt2e(network, calibration, input_size)
        else:
            network = fold_for_inference(model)
        _lower_to_pte(network, torch.randn(batch_size, *input_size), path)
    sidecar = {key: _decode(value) for key, value in onnx_metadata(model, folded=True).items()}
    sidecar["input_layout"] = f"NCHW float32, batch fixed at {batch_size}, normalized as in `preprocess`"
    sidecar["backend"] = "XNNPACK, " + ("int8 (PT2E, XNNPACKQuantizer, per-channel)" if int8 else "fp32")
    Path(f"{path}.json").write_text(json.dumps(sidecar, indent=2))
    return path


def _decode(value: str) -> object:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value
