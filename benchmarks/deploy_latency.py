"""The deployment issue's acceptance 1: our fastest checked path against the peers' defaults.

For V1, V2, V3-Large, V3-Small and V4 Conv-S at 224 px, 2 threads, batch 1 and batch 32, this
times side by side, in interleaved rounds (so machine noise hits every path alike):

- the peers' defaults (``mobilenets.bench.peer_defaults``): torch eager, ``torch.compile``, the
  ordinary ``torch.onnx.export`` file in a default ONNX Runtime session and in a default
  OpenVINO compile (whatever precision OpenVINO picks on this CPU);
- every path mobilenets offers in every precision this CPU computes (``bench.backends``):
  fp32, bf16 / fp16 where the hardware has them, int8.

Every path is checked against the eager fp32 model on held-out real photos (fp32: parity;
bf16 / fp16 / int8: top-1 agreement >= 99%), so each model is one trained with the default
recipe on the ``photos`` set and fine-tuned at 224 px (``photo_models.py``). The int8 files are
calibrated on the set's training images and checked on its 160 validation images, as
``precision_agreement.py`` calibrates them (it checks them on the 1,280 test images). Per
model and batch it prints the best peer default, our best path that passed its check, and
their ratio (target <= 1.0), and writes the full table and the summary (markdown, JSON, PNG)
with the CPU's features and peaks.

    .venv/bin/python benchmarks/deploy_latency.py                 # about 30 min on 2 cores
    .venv/bin/python benchmarks/deploy_latency.py --models mobilenet_v3_small --batches 1 --rounds 2
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mobilenets
from mobilenets import create_model
from mobilenets.bench.recommend import recommend
from mobilenets.bench.registry import BACKENDS
from mobilenets.bench.report import bench_table, save_bench
from mobilenets.bench.timing import BenchReport, best_result, run_bench
from mobilenets.models.mobilenet import MobileNet
from photo_models import photo_model, photos_dataset

MODELS = (
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "mobilenet_v4_conv_small",
)
SIZE = 224


def model_at(arch: str, size: int) -> MobileNet:
    """The photo-trained ``arch``, fine-tuned at ``size`` px, whose checks are therefore meaningful there."""
    model = create_model(photo_model(arch, size))
    assert tuple(model.preprocess.input_size) == (3, size, size), model.preprocess
    return model.eval()


def summary_lines(report: BenchReport, batches: list[int]) -> list[str]:
    """The acceptance table: per model and batch, the best peer default, our best checked path, ratio."""

    def cell(row: object) -> str:
        if row is None:
            return "–"
        return f"{row.median_ms:.2f} ms {row.backend} ({row.precision})"  # type: ignore[attr-defined]

    lines = [
        "| model | batch | best peer default | our best checked path | ours / peer (≤ 1.0) "
        "| our best fp32 | our best int8 (check) |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in report.macs:
        for batch in batches:
            choice = recommend(report, model, batch)
            fp32 = best_result(report, model, batch, "fp32", peer=False)
            int8 = best_result(report, model, batch, "int8", peer=False)
            ratio = "–" if choice.ratio is None else f"**{choice.ratio:.2f}**"
            int8_cell = "–" if int8 is None else f"{cell(int8)}, {int8.check}"
            lines.append(
                f"| {model} | {batch} | {cell(choice.best_peer)} | {cell(choice.best)} | {ratio} "
                f"| {cell(fp32)} | {int8_cell} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.3, help="timed seconds per path per round")
    parser.add_argument("--out", default="benchmarks/results", help="folder for deploy_latency.{md,json,png}")
    args = parser.parse_args()
    console = Console(width=160)
    torch.manual_seed(0)
    batches = [int(value) for value in args.batches.split(",")]
    models = [model_at(arch, SIZE) for arch in args.models.split(",")]
    photos = photos_dataset()
    report = run_bench(
        models,  # type: ignore[arg-type]
        tuple(BACKENDS),
        batches,
        args.threads,
        rounds=args.rounds,
        min_seconds=args.seconds,
        calib=photos / "train",
        held_out=photos / "val",
        progress=lambda message: console.log(message),
    )
    console.print(bench_table(report))
    save_bench(report, args.out, stem="deploy_latency")
    command = "python benchmarks/deploy_latency.py " + " ".join(sys.argv[1:])
    versions = (
        f"mobilenets {mobilenets.__version__}, torch {torch.__version__}, Python {platform.python_version()}"
    )
    summary = "\n".join(
        [
            *summary_lines(report, batches),
            "",
            f"{report.date}, {args.threads} threads, {SIZE} px; {versions}.",
            "",
            *(f"- {line}" for line in report.peak.describe().splitlines()),
            "",
            f"Checked on: {'; '.join(f'{k}: {v}' for k, v in report.check_source.items())}.",
            "",
            f"Command: `{command.strip()}`",
        ]
    )
    Path(args.out, "deploy_latency_summary.md").write_text(summary + "\n")
    console.print(summary)


if __name__ == "__main__":
    main()
