"""The ``mobilenets`` command: one sub-command per module in this package.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` to a function taking the parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Sub-command name -> module (imported lazily so `mobilenets --help` stays fast).
COMMANDS = {
    "models": "mobilenets.cli.models",
    "train": "mobilenets.cli.train",
    "eval": "mobilenets.cli.eval",
    "demo": "mobilenets.cli.demo",
    "profile": "mobilenets.cli.profile",
    "convert": "mobilenets.cli.convert",
    "predict": "mobilenets.cli.predict",
    "export": "mobilenets.cli.export",
    "bench": "mobilenets.cli.bench",
}

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobilenets", description="MobileNet V1/V2/V3: build, measure, convert, train, deploy."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 some inputs failed, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except ValueError as error:  # bad arguments found by the library: a usage error
        print(f"mobilenets {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
