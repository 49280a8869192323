"""The deployment issue's acceptance 2: do the bf16 and int8 paths agree with fp32 on top-1?

On images no calibration saw, the share of images on which each lower-precision path picks the
same top-1 class as the eager fp32 model (target >= 99%), for:

1. the ``make demo`` model (V1 α=0.5, 32 px; ``runs/demo/final.safetensors``, trained here with
   the demo's recipe when missing) on the digits' held-out split (450 images);
2. each architecture trained with the default recipe on the ``photos`` set of real photo crops
   (``photo_models.py``), at its training size (64 px) and fine-tuned at the deployment size
   (224 px), on the set's ``test`` split: 1,280 crops that neither training nor calibration read.

Each share comes with its 95% Wilson interval: on 160 images one disagreement more or less moves
the share by 0.6 points, so only a set this size tells 99% from 98%.
The margin column is the fp32 model's top-1 minus top-2 probability, as a median over the
differing images and over all: rounding only reorders classes the float model nearly ties.

Paths: int8 on ONNX Runtime, OpenVINO and ExecuTorch XNNPACK (calibrated on the training images,
bias-corrected, as ``mobilenets export --int8 --calib train --held-out test`` makes them); bf16
through PyTorch autocast (on a CPU without bf16 instructions PyTorch emulates it with the same
rounding, so the agreement holds for an AMX machine; its speed does not) and OpenVINO's bf16
where this CPU has it.

    .venv/bin/python benchmarks/precision_agreement.py          # about 30 min on 2 cores, models cached
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mobilenets.bench.backends import ChannelsLastBf16, torch_cpu_computes
from mobilenets.bench.timing import BenchReport, run_bench
from photo_models import REPO, photo_model, photos_dataset

PATHS = ("channels_last-bf16", "openvino-bf16", "onnxruntime-int8", "openvino-int8", "executorch-int8")
ARCHS = (
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "mobilenet_v4_conv_small",
)


def demo_model() -> Path:
    """The ``make demo`` model; trained with the demo's recipe when ``runs/demo`` has none."""
    weights = REPO / "runs" / "demo" / "final.safetensors"
    if not weights.exists():
        from mobilenets.demo import DEMO_RECIPE
        from mobilenets.train import fit
        from mobilenets.train.config import TrainConfig

        fit(TrainConfig(**DEMO_RECIPE, out=str(weights.parent), progress=False))  # type: ignore[arg-type]
    return weights


def wilson_interval(agree: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a share ``agree / total`` (sound near 100%, unlike p ± 2σ)."""
    share = agree / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


def rows(report: BenchReport, label: str) -> list[str]:
    lines = []
    for row in report.results:
        if row.median_ms is None:
            lines.append(f"| {label} | {row.backend} | – | – | – | {row.note} |")
            continue
        check: dict[str, Any] = row.check_report
        accuracy, float_accuracy = check.get(f"{row.precision}_accuracy"), check.get("float_accuracy")
        accuracies = "–"
        if accuracy is not None:
            accuracies = f"fp32 {100 * float_accuracy:.2f}%, {row.precision} {100 * accuracy:.2f}%"
        low, high = wilson_interval(check["samples"] - check["disagreements"], check["samples"])
        interval = f"95% CI {100 * low:.1f}-{100 * high:.1f}%"
        differ = f"{check['disagreements']} of {check['samples']} differ; {interval}"
        share = f"{100 * check['agreement']:.2f}%"
        agreement = f"**{share}** ({differ})" if row.check_passed else f"{share} ({differ}; FAIL)"
        differing = check.get("float_margin_median_differing")
        margins = "–" if differing is None else f"{differing:.3f} / {check['float_margin_median']:.3f}"
        cells = (label, row.backend, row.precision, agreement, margins, accuracies)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default=",".join(ARCHS))
    parser.add_argument("--sizes", default="64,224", help="photo-model input sizes (px)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="the photo models' training seed (default 0)")
    parser.add_argument("--skip-demo", action="store_true", help="only the photo models")
    parser.add_argument(
        "--then-epochs", type=int, default=0, help="fine-tune each photo model this many more epochs first"
    )
    parser.add_argument("--out", default="benchmarks/results/precision_agreement.md")
    args = parser.parse_args()
    console = Console(width=160)
    ChannelsLastBf16.emulate = True  # numerics only: the latency benchmark never sets this
    table = [
        "| model, held-out set | path | precision | top-1 agreement with fp32 "
        "| fp32 margin, median: differing / all | accuracy |",
        "|---|---|---|---|---|---|",
    ]
    say = lambda message: console.log(message)  # noqa: E731
    common = {"threads": args.threads, "warmup": 0, "min_seconds": 0.01, "progress": say}
    if not args.skip_demo:
        report = run_bench([demo_model()], PATHS, [1], calib="digits", **common)  # type: ignore[arg-type]
        table += rows(report, "`make demo` model (digits, V1 α=0.5, 32 px), 450 held-out digits")
    photos = photos_dataset()
    for arch in args.archs.split(","):
        for size in (int(value) for value in args.sizes.split(",")):
            report = run_bench(
                [photo_model(arch, size, seed=args.seed, then_epochs=args.then_epochs)],
                PATHS,
                [1],
                calib=photos / "train",
                held_out=photos / "test",
                **common,  # type: ignore[arg-type]
            )
            source = report.check_source[next(iter(report.macs))]
            trained = "" if args.seed == 0 else f", training seed {args.seed}"
            if args.then_epochs:
                trained += f", then {args.then_epochs} more epochs"
            table += rows(report, f"{arch}{trained}, photos set ({size} px), {source.split(' (')[0]}")
            console.print("\n".join(table))
    text = "\n".join(
        [
            "# bf16 and int8 top-1 agreement with fp32",
            "",
            f"{report.date}. {report.peak.feature_line()}",
            "",
            *table,
            "",
            "bf16 through PyTorch autocast ran on this CPU's bf16 instructions."
            if torch_cpu_computes("bf16")
            else "bf16 through PyTorch autocast is emulated on a CPU without bf16 (same rounding).",
            "",
            f"Command: `python benchmarks/precision_agreement.py {' '.join(sys.argv[1:])}`",
        ]
    )
    Path(args.out).write_text(text + "\n")
    console.print(text)


if __name__ == "__main__":
    main()
