"""``--calib``, ``--calib-samples`` and ``--held-out``, as ``export`` and ``bench`` take them."""

from __future__ import annotations

import argparse


def add_calibration_arguments(parser: argparse.ArgumentParser, calib_help: str) -> None:
    """The three options; ``calib_help`` says what the command does with the images."""
    parser.add_argument("--calib", metavar="DIR|digits", help=calib_help)
    parser.add_argument("--calib-samples", type=int, default=256, help="images used to calibrate (256)")
    parser.add_argument(
        "--held-out",
        metavar="DIR",
        help="check agreement on these images instead of a quarter of --calib (e.g. calibrate on "
        "train/, check on val/)",
    )
