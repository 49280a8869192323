"""The package version, in one place (``mobilenets.__version__``, ONNX metadata, the wheel)."""

__version__ = "0.1.0"
