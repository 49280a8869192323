"""int8 ONNX through ONNX Runtime's static quantization: QDQ format, per-channel weights.

Static quantization fixes every activation's int8 range ahead of time from calibration images,
so the runtime never measures ranges on the fly. QDQ (QuantizeLinear / DequantizeLinear pairs
around float ops) is the portable form: ONNX Runtime fuses the pairs into int8 kernels, and
OpenVINO and TensorRT read the same file. Per-channel weight scales matter for MobileNets:
depthwise filters differ in range by orders of magnitude, and one scale per tensor would
flatten the small ones to zero.

Activation ranges come from a histogram of the calibration activations, clipped at the
99.99th percentile on each side, by default. Plain min/max lets a few outlier activations
(residual sums in late blocks reach ±30 where almost all values lie within ±5) stretch the
8-bit grid, which coarsens every other value. On a converted ImageNet MobileNetV2 that took
top-1 agreement with float on held-out photo crops from 65% (min/max) to 80% (percentile).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mobilenets.export.calibration import CALIBRATION_BATCH
from mobilenets.export.onnx_export import INPUT_NAME, quiet_export, read_onnx_metadata, write_onnx_metadata
from mobilenets.export.runtimes import require_runtime

CALIBRATION_METHODS = ("percentile", "minmax")
PERCENTILE = 99.99


def _batches(inputs: np.ndarray, batch_size: int, start: int, stop: int) -> Iterator[dict[str, np.ndarray]]:
    """Batches ``start`` to ``stop`` (batch indices) of ``inputs``, as ONNX Runtime feeds."""
    for index in range(start, stop):
        chunk = inputs[index * batch_size : (index + 1) * batch_size]
        yield {INPUT_NAME: np.ascontiguousarray(chunk, dtype=np.float32)}


def _make_reader(inputs: np.ndarray, batch_size: int) -> object:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over a preprocessed array.

    It also offers ``__len__`` and ``set_range`` (counted in batches), which ONNX Runtime's
    strided calibration uses to collect one batch at a time. Without that, its calibrators
    keep every intermediate activation of every calibration image in memory at once: 17 GB
    for 256 images through MobileNetV2 at 224 px.
    """
    from onnxruntime.quantization import CalibrationDataReader

    count = -(-len(inputs) // batch_size)

    class ArrayReader(CalibrationDataReader):
        def __init__(self) -> None:
            self.set_range(0, count)

        def __len__(self) -> int:
            return count

        def set_range(self, start_index: int, end_index: int) -> None:
            self._iterator = _batches(inputs, batch_size, start_index, end_index)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._iterator, None)

        def rewind(self) -> None:
            self.set_range(0, count)

    return ArrayReader()


def first_and_last_layers(path: str | Path) -> list[str]:
    """Names of the stem convolution (fed by the image) and the final classifier node.

    These two stay in float by default. The stem sees raw normalized pixels through only
    3 input channels, so its int8 rounding is large relative to its work (about 2% of a
    MobileNet's MACs); the classifier turns features into the decision itself, and its
    rounding flips close calls. Keeping both in float buys measurable top-1 agreement (on the
    digits model: 98.7% -> 99.1%) for a negligible share of the latency.
    """
    import onnx

    graph = onnx.load(str(path)).graph
    image = graph.input[0].name
    names = [node.name for node in graph.node if node.op_type == "Conv" and node.input[0] == image]
    matmuls = [node.name for node in graph.node if node.op_type in ("Gemm", "MatMul")]
    return names + matmuls[-1:]


def batchnorm_nodes(path: str | Path) -> list[str]:
    """Names of the BatchNormalization nodes left after folding: Mobile MQA's pre-norms (V4 hybrids).

    They stay in float. ONNX Runtime's per-channel quantizer would treat their scale as a weight
    with an output-channel axis 1, which a 1-D scale does not have (it warns, once per block),
    and the affine map is cheap beside the convolutions around it.
    """
    import onnx

    graph = onnx.load(str(path)).graph
    return [node.name for node in graph.node if node.op_type == "BatchNormalization"]


def quantize_onnx(
    float_path: str | Path,
    out_path: str | Path,
    calibration: np.ndarray,
    *,
    per_channel: bool = True,
    symmetric_activations: bool = False,
    keep_float_ends: bool = True,
    calibration_method: str = "percentile",
) -> Path:
    """Quantize a float ONNX file (from ``export_onnx``) to int8 QDQ, calibrated on images.

    The float graph first goes through ONNX Runtime's quantization pre-processing (shape
    inference), as its documentation advises, but not its graph optimization (see the comment
    below). The metadata of the float file is copied over.

    Args:
        float_path: the float .onnx file.
        out_path: the int8 .onnx file to write.
        calibration: (N, C, H, W) float32 preprocessed images; a few hundred suffice.
        per_channel: one weight scale per output channel (recommended for depthwise layers).
        symmetric_activations: int8 activations around zero instead of uint8 with a zero point.
        keep_float_ends: leave the stem convolution and the classifier in float
            (see ``first_and_last_layers``). Batch norms left by folding always stay in float
            (``batchnorm_nodes``).
        calibration_method: 'percentile' (ranges clipped at the 99.99th percentile) or
            'minmax' (the full observed range).

    Returns:
        The path written.
    """
    require_runtime("onnxruntime")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if len(calibration) == 0:
        raise ValueError("int8 calibration needs at least one image")
    if calibration_method not in CALIBRATION_METHODS:
        known = ", ".join(CALIBRATION_METHODS)
        raise ValueError(f"calibration_method={calibration_method!r} is unknown; use one of {known}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, quiet_export():
        prepared = Path(scratch) / "prepared.onnx"
        # skip_optimization: ONNX Runtime's optimizer would inline every HardSwish into
        # HardSigmoid + Mul before quantizing. OpenVINO has no int8 kernel for that HardSigmoid
        # (it ran the reference one, with reorders around it) and ORT an extra QDQ pair; kept
        # whole, V3-Large int8 ran in 0.63x the time on OpenVINO and 0.85x on ORT at batch 1
        # (benchmarks/v3_time_profile.py). Our graph is already folded, so nothing else is lost.
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True, skip_optimization=True)
        kept = (first_and_last_layers(prepared) if keep_float_ends else []) + batchnorm_nodes(prepared)
        ranges = f"percentile {PERCENTILE}" if calibration_method == "percentile" else "MinMax"
        try:
            _quantize_static(
                prepared, out_path, calibration, calibration_method, per_channel, symmetric_activations, kept
            )
        except ValueError as error:
            # ONNX Runtime's percentile histogram spans [min |x|, max |x|] in 2048 float32 bins,
            # which numpy refuses when every value lies within a few float32 steps of the others:
            # an SE gate saturated at 1 on every calibration image, as in untrained V3 models.
            # Fall back to min/max ranges for the model, and say so in its metadata.
            if calibration_method != "percentile" or "bins" not in str(error):
                raise
            ranges = f"minmax (percentile failed: {error})"
            _quantize_static(
                prepared, out_path, calibration, "minmax", per_channel, symmetric_activations, kept
            )
    metadata = {
        key: value if isinstance(value, str) else _json(value)
        for key, value in read_onnx_metadata(float_path).items()
    }
    metadata["quantization"] = _json(
        {
            "tool": "onnxruntime.quantization.quantize_static",
            "format": "QDQ",
            "weights": "int8 symmetric, " + ("per-channel" if per_channel else "per-tensor"),
            "activations": "int8 symmetric" if symmetric_activations else "uint8 asymmetric",
            "calibration_images": len(calibration),
            "calibration_method": ranges,
            "kept_in_float": kept,
        }
    )
    write_onnx_metadata(out_path, metadata)
    return out_path


def _quantize_static(
    prepared: Path,
    out_path: Path,
    calibration: np.ndarray,
    calibration_method: str,
    per_channel: bool,
    symmetric_activations: bool,
    kept: list[str],
) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(prepared),
        str(out_path),
        _make_reader(calibration, CALIBRATION_BATCH),
        quant_format=QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=QuantType.QInt8 if symmetric_activations else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.Percentile
        if calibration_method == "percentile"
        else CalibrationMethod.MinMax,
        nodes_to_exclude=kept,
        extra_options={
            "ActivationSymmetric": symmetric_activations,
            "CalibPercentile": PERCENTILE,
            "CalibStridedMinMax": 1,  # one batch at a time (any method, despite the name)
        },
    )


def _json(value: object) -> str:
    import json

    return json.dumps(value)
