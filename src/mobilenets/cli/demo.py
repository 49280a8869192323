"""``mobilenets demo``: the main job end to end on the built-in digits (``mobilenets.demo``).

1. Print the model's profile.
2. Train a small MobileNetV1 from scratch (α = 0.5 at 32 px: a few minutes on 2 CPU cores).
3. Evaluate the best weights on the held-out 25%.
4. Predict a few held-out samples.
5. Write the plots (training curves, confusion matrix, the predicted samples).
6. Deploy the trained model: ONNX and int8 export with parity checks, then a short bench table.
"""

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
