"""Deployment: ONNX and ExecuTorch export, int8 quantization, parity checks.

The runtimes are optional (``pip install 'mobilenets[deploy]'``); this package imports them only
when an export runs.
"""

from typing import Any

from mobilenets.export.calibration import ImageSet, calibration_sets
from mobilenets.export.executorch_export import export_executorch
from mobilenets.export.onnx_export import export_onnx, export_onnx_plain, read_onnx_metadata
from mobilenets.export.pipeline import ExportResult, export_model, resolve_model
from mobilenets.export.quantize import quantize_onnx

__all__ = [
    "ExportResult",
    "ImageSet",
    "calibration_sets",
    "demo_deploy",
    "export_executorch",
    "export_model",
    "export_onnx",
    "export_onnx_plain",
    "quantize_onnx",
    "read_onnx_metadata",
    "resolve_model",
]


def __getattr__(name: str) -> Any:
    # ``demo_deploy`` moved to ``mobilenets.demo`` (it uses the benchmark, which builds on this
    # package); the old name still works, without this package importing upwards.
    if name == "demo_deploy":
        from mobilenets.demo import demo_deploy

        return demo_deploy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
