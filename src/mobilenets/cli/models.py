"""``mobilenets models``: every model with official weights (or the ones named), built and summarised."""

from __future__ import annotations

import argparse

import torch
from rich.console import Console
from rich.table import Table

from mobilenets.models.registry import parse_model_name
from mobilenets.weights.catalog import published_models, published_sizes, published_sources
from mobilenets.weights.create import create_model


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the models with official weights, built and measured")
    parser.add_argument("names", nargs="*", help="model names (default: every model with official weights)")
    parser.set_defaults(handler=run)


def models_table(names: list[str]) -> Table:
    """A table with one row per model: name, alpha, input size, parameters, output shape."""
    table = Table(title="mobilenets models")
    for column in ("model", "α", "input", "parameters", "output shape", "official weights", "sizes"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for name in names:
        model = create_model(name).eval()
        cfg = model.config
        size = cfg.default_input_size
        with torch.no_grad():
            out = model(torch.zeros(1, cfg.in_chans, size, size))
        assert isinstance(out, torch.Tensor)
        params = sum(p.numel() for p in model.parameters())
        sources, sizes = published_sources(name), published_sizes(name)
        table.add_row(
            name,
            f"{cfg.width_mult:g}",
            f"{size}x{size}",
            f"{params:,}",
            str(tuple(out.shape)),
            ", ".join(sources) or "none",
            "/".join(map(str, sizes)) if sources else "",
        )
    return table


def run(args: argparse.Namespace) -> int:
    names = args.names or published_models()
    for name in names:
        parse_model_name(name)  # fail fast, with close matches, before building anything
    Console(width=max(Console().width, 130)).print(models_table(names))  # never elide a name
    return 0
