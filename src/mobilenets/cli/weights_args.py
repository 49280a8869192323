"""``--weights`` and ``--model``, as every command that reads a model takes them."""

from __future__ import annotations

import argparse

from mobilenets.weights.catalog import SOURCES, is_official_source

# Official weights need a model name; the commands document this default in --help.
DEFAULT_OFFICIAL_MODEL = "mobilenet_v2"


def add_weights_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        required=True,
        help="a mobilenets .safetensors file, a torchvision/timm/Keras file (converted in memory), or "
        f"{'|'.join(SOURCES)} for the official weights of --model",
    )
    parser.add_argument(
        "--model", help=f"model name; needed with official weights (default: {DEFAULT_OFFICIAL_MODEL})"
    )


def model_name(args: argparse.Namespace) -> str | None:
    """The model the weights must be: --model, the documented default for official weights, or the file's."""
    if args.model is None and is_official_source(args.weights):
        return DEFAULT_OFFICIAL_MODEL
    return args.model
