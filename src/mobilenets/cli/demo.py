"""``mobilenets demo``: the main job, run by ``make demo``."""

from __future__ import annotations

import argparse

from rich.console import Console

from mobilenets.cli.models import zoo_table
from mobilenets.zoo import ZOO


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the end-to-end demo")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    console.rule("1. The model zoo")
    console.print(zoo_table(list(ZOO)))
    return 0
