"""Does SGD's default learning rate train every family stably on data no one tuned for?

Trains each family with the default recipe and ``lr`` set to each value asked for
(``fit(TrainConfig(data=DIR, model=M, resolution=64, epochs=15, lr=LR))``, i.e. ``mobilenets
train --data DIR --model M --resolution 64 --epochs 15 --lr LR``; SGD, batch 64, so LR is the
reference value the recipe scales), on the ``textures`` and ``filters`` sets of
``unseen_datasets.py``, and records per run the final validation top-1 and how far the epoch
training loss rose above the first epoch's (a run whose loss climbs back above where it started
is diverging, whatever its last epoch shows).

These two sets are the tuning data of ``SGD_REFERENCE_LR_BY_FAMILY`` (``train/recipe.py``); the
``photos`` set is kept apart to judge the chosen values on (``precision_agreement.py`` trains its
models with the default recipe there).

    .venv/bin/python benchmarks/family_learning_rate.py --models mobilenet_v4_conv_small \\
        --lrs 0.1 0.05 0.025 --seeds 0 1 2            # ~20 min a model on 2 cores
    .venv/bin/python benchmarks/family_learning_rate.py --render runs/family_lr/runs.jsonl

Each run appends one JSON line to ``--out``/runs.jsonl; ``--render`` prints the markdown tables.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mobilenets.train import fit
from mobilenets.train.config import TrainConfig
from unseen_datasets import SPECS, ensure_dataset

REPO = Path(__file__).resolve().parent.parent
TUNING_SETS = ("textures", "filters")  # photos is kept for judging


def train_once(model: str, dataset: str, seed: int, lr: float, out: Path, threads: int) -> dict[str, Any]:
    """One run of the default recipe with ``lr`` given; its figures."""
    data = REPO / "runs" / "unseen_data" / "data" / dataset
    ensure_dataset(dataset, data)
    run_dir = out / model / dataset / f"lr-{lr:g}" / f"seed{seed}"
    started = time.perf_counter()
    fit(
        TrainConfig(
            data=str(data),
            model=model,
            resolution=64,
            epochs=15,
            seed=seed,
            out=str(run_dir),
            progress=False,
            threads=threads,
            overwrite=True,
            lr=lr,
        )
    )
    epochs = [
        record
        for record in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
        if record.get("kind") == "epoch"
    ]
    losses = [record["train_loss"] for record in epochs]
    return {
        "model": model,
        "dataset": dataset,
        "seed": seed,
        "lr": lr,
        "final_top1": epochs[-1]["val_top1"],
        "first_loss": losses[0],
        "worst_rise": max(losses[1:]) / losses[0],  # > 1: the loss climbed above where it started
        "wall_seconds": time.perf_counter() - started,
    }


def render(rows: list[dict[str, Any]]) -> str:
    """One table per model: mean final top-1 and the worst loss rise per lr and set."""
    lines: list[str] = []
    by_model: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for row in rows:
        by_model[row["model"]].append(row)
    for model, runs in by_model.items():
        lines += [
            f"### {model}",
            "",
            "| lr at batch 64 | set | final top-1 per seed | mean | loss rise over epoch 1, per seed |",
            "|---|---|---|---|---|",
        ]
        cells: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
        for run in runs:
            cells[(run["lr"], run["dataset"])].append(run)
        for (lr, dataset), found in sorted(cells.items(), key=lambda item: (-item[0][0], item[0][1])):
            found.sort(key=lambda run: run["seed"])
            tops = " / ".join(f"{100 * run['final_top1']:.1f}" for run in found)
            mean = 100 * sum(run["final_top1"] for run in found) / len(found)
            rises = " / ".join(f"{run['worst_rise']:.2f}" for run in found)
            seeds = ",".join(str(run["seed"]) for run in found)
            lines.append(f"| {lr:g} | {dataset} (seeds {seeds}) | {tops} | {mean:.1f}% | {rises} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["mobilenet_v4_conv_small"])
    parser.add_argument("--lrs", nargs="*", type=float, default=[0.1, 0.05, 0.025])
    parser.add_argument("--datasets", nargs="*", default=list(TUNING_SETS), choices=list(SPECS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "family_lr")
    parser.add_argument("--render", type=Path, help="print the tables of this runs.jsonl and exit")
    args = parser.parse_args()
    if args.render:
        print(render([json.loads(line) for line in args.render.read_text().splitlines() if line.strip()]))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for model in args.models:
        for lr in args.lrs:
            for dataset in args.datasets:
                for seed in args.seeds:
                    row = train_once(model, dataset, seed, lr, args.out, args.threads)
                    with (args.out / "runs.jsonl").open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
