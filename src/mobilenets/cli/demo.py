"""``mobilenets demo``: the main job end to end on the built-in digits (the steps: ``mobilenets.demo``)."""

from __future__ import annotations

import argparse

from rich.console import Console

from mobilenets.cli.train import line_buffered_stdout
from mobilenets.demo import DEMO_RECIPE, run_demo


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the end-to-end demo (train, evaluate, predict, plot)")
    parser.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    parser.add_argument("--epochs", type=int, default=DEMO_RECIPE["epochs"], help="training epochs")
    parser.add_argument("--samples", type=int, default=8, help="held-out samples to predict")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    line_buffered_stdout()
    run_demo(args.out, args.epochs, args.samples, Console(soft_wrap=True))
    return 0
