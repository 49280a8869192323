"""``mobilenets demo``: the main job, run by ``make demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from mobilenets.cli.models import zoo_table
from mobilenets.zoo import ZOO


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the end-to-end demo")
    parser.add_argument("--out", default="out/demo", help="folder for the demo's files (default out/demo)")
    parser.set_defaults(handler=run)


def _demo_weights(out_dir: Path, console: Console) -> Path:
    """The trained demo model; until the training step exists, a stand-in with digits labels."""
    trained = out_dir / "model.safetensors"
    if trained.exists():
        return trained
    from mobilenets import PreprocessConfig, create_model
    from mobilenets.digits import CLASS_NAMES
    from mobilenets.weights import save_weights

    console.print(
        f"[yellow]no trained model at {trained}: exporting an untrained stand-in. Its logits are "
        "~1e-9 and carry no decision, so its int8 agreement figures mean nothing.[/]"
    )
    model = create_model("mobilenet_v3_small_0.75", num_classes=10, resolution_mult=64 / 224)
    model.preprocess = PreprocessConfig(input_size=(3, 64, 64), crop_pct=1.0)
    return save_weights(model, out_dir / "standin.safetensors", labels=CLASS_NAMES, source="demo stand-in")


def run(args: argparse.Namespace) -> int:
    console = Console()
    console.rule("1. The model zoo")
    console.print(zoo_table(list(ZOO)))
    console.rule("2. Deployment: export, parity, bench")
    from mobilenets.export import demo_deploy

    out_dir = Path(args.out)
    demo_deploy(_demo_weights(out_dir, console), out_dir / "export", console)
    return 0
