"""``mobilenets models``: build every model of the zoo and print a summary table."""

from __future__ import annotations

import argparse

import torch
from rich.console import Console
from rich.table import Table

from mobilenets.registry import create_model, parse_model_name
from mobilenets.zoo import ZOO


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="build the model zoo and print its table")
    parser.add_argument("names", nargs="*", help="model names (default: the whole zoo)")
    parser.set_defaults(handler=run)


def zoo_table(names: list[str]) -> Table:
    """A table with one row per model: name, alpha, input size, parameters, output shape."""
    table = Table(title="mobilenets model zoo")
    for column in ("model", "α", "input", "parameters", "output shape"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name in names:
        model = create_model(name).eval()
        cfg = model.config
        size = cfg.default_input_size
        with torch.no_grad():
            out = model(torch.zeros(1, cfg.in_chans, size, size))
        assert isinstance(out, torch.Tensor)
        params = sum(p.numel() for p in model.parameters())
        table.add_row(name, f"{cfg.width_mult:g}", f"{size}x{size}", f"{params:,}", str(tuple(out.shape)))
    return table


def run(args: argparse.Namespace) -> int:
    names = args.names or list(ZOO)
    for name in names:
        parse_model_name(name)  # fail fast, with close matches, before building anything
    Console().print(zoo_table(names))
    return 0
