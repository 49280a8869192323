"""The ``mobilenets`` command: one sub-command per module in this package.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` to a function taking the parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from mobilenets.cli import bench, convert, demo, eval, export, models, predict, profile, train
from mobilenets.cli.failures import (
    EXIT_CODES,
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_SYSTEM,
    EXIT_TERMINATED,
    EXIT_USAGE,
    Terminated,
    debug_requested,
    report,
    sigterm_as_exception,
)

__all__ = [
    "EXIT_CODES",
    "EXIT_DIVERGED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_SYSTEM",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

# The sub-commands, in the order ``mobilenets --help`` lists them.
COMMANDS = (models, train, eval, demo, profile, convert, predict, export, bench)

EXIT_CODES_HELP = "exit codes:\n" + "\n".join(
    f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items()
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        hint = ""
        if "required: IMAGE_OR_DIR" in message or "required: models" in message:
            hint = " (a name starting with '-' reads as an option: write ./-name)"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="mobilenets",
        description="MobileNet V1/V2/V3/V4: build, measure, convert, train, deploy.",
        epilog=EXIT_CODES_HELP + "\n\nA failure you can cause prints one line; --debug (or "
        "MOBILENETS_DEBUG=1) adds the traceback.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of any failure")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    for subparser in subparsers.choices.values():
        # An unknown option is named by its sub-command, whose --help lists what it takes.
        subparser.set_defaults(command_parser=subparser)
        subparser.add_argument(  # also accepted after the command's name
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show the traceback of any failure",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see ``EXIT_CODES``).

    Expected failures (bad files and arguments, full disks, Ctrl-C) print one line; only a bug,
    or ``--debug`` / ``MOBILENETS_DEBUG=1``, shows a traceback.
    """
    command, debug = "", False
    with sigterm_as_exception():
        try:
            # Building the parser imports the sub-commands: inside the boundary, so a Ctrl-C
            # then is one line too. (One while `import mobilenets` itself loads torch, before
            # any of this runs, still shows Python's traceback.)
            parser = build_parser()
            args, unknown = parser.parse_known_args(argv)
            if unknown:
                args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
            command, debug = args.command, args.debug
            code: int = args.handler(args)
        except (Exception, KeyboardInterrupt, Terminated) as error:
            reported = report(command or "", error)
            if reported is None:  # a bug: the traceback is what a report needs
                raise
            if debug_requested(debug):  # the traceback too, but the same exit code
                traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
            return reported
    return code


if __name__ == "__main__":
    sys.exit(main())
