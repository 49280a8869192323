"""The default training recipe on data no one tuned for, against a small grid of tuned recipes.

Three small ImageFolders are built from photos that ship inside installed packages (see
``unseen_datasets.py``: which photo a crop came from, which texture a patch shows, which colour
operation was applied), each 480 training and 150-160 validation images of mixed sizes and
formats. On each, the script trains exactly what a new user types:

    fit(TrainConfig(data=DIR, model=MODEL, width_mult=W, resolution=R, epochs=E, out=RUN, progress=False))

(the CLI's ``mobilenets train --data DIR --model mobilenet_v1 --width 0.5 --resolution 64
--epochs 15 --out RUN``), then the same with each tuned recipe of the grid (a few ``TrainConfig``
overrides each), and reports the final weights' validation top-1 (``FitResult.final``; the best
epoch's is shown too, but it selects on the validation set). A default recipe that works should
land within a few points of the best tuned one; one that leaves the model at chance while the
training loss falls is broken.

It is a benchmark, not a test: it always exits 0 and prints a verdict line per dataset. Figures
from one seed on a shared 2-core machine are noisy; use ``--seeds 0 1 2`` for a steadier mean.

    .venv/bin/python benchmarks/unseen_data.py --grid small     # 9-14 min on the shared 2-core box
    .venv/bin/python benchmarks/unseen_data.py --grid full --seeds 0 1 --write
    .venv/bin/python benchmarks/unseen_data.py --datasets filters --epochs 5   # a quick look
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mobilenets
from mobilenets.train import fit
from mobilenets.train.config import TrainConfig
from unseen_datasets import SPECS, ensure_dataset

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
WITHIN_POINTS = 5.0  # the verdict: default within this many points of the best tuned recipe
CHANCE_POINTS = 2.0  # "at chance": within this many points of 100 / classes

# Tuned recipes: TrainConfig overrides on top of the default call. A key this version of
# TrainConfig does not have is skipped with a note (the recipe runs without it, or not at all
# when nothing is left); a recipe whose every override equals the current default is skipped as
# a copy of the default.
SMALL_GRID: dict[str, dict[str, Any]] = {
    "bn0.1": {"bn_momentum": 0.1},
    "bn0.1+lr0.05": {"bn_momentum": 0.1, "lr": 0.05},
    "bn0.1+crop0.25": {"bn_momentum": 0.1, "crop_scale": (0.25, 1.0)},
    "bn0.1+ema0.99": {"bn_momentum": 0.1, "ema_decay": 0.99},
}
FULL_GRID: dict[str, dict[str, Any]] = {
    **SMALL_GRID,
    "lr0.05": {"lr": 0.05},
    "bn0.1+lr0.2": {"bn_momentum": 0.1, "lr": 0.2},
    "bn0.1+wd5e-4": {"bn_momentum": 0.1, "weight_decay": 5e-4},
    "bn0.1+ls0": {"bn_momentum": 0.1, "label_smoothing": 0.0},
    "precise_bn": {"precise_bn": True},
    "bn0.1+lr0.05+crop0.25+wd5e-4": {
        "bn_momentum": 0.1,
        "lr": 0.05,
        "crop_scale": (0.25, 1.0),
        "weight_decay": 5e-4,
    },
}
GRIDS = {"small": SMALL_GRID, "full": FULL_GRID, "none": {}}


# -- recipes ----------------------------------------------------------------------------------------
def usable_overrides(overrides: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The overrides this TrainConfig knows, and a note for each one it does not (or that is moot)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    kept: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in overrides.items():
        if key not in fields:
            notes.append(f"{key}={value!r} skipped: TrainConfig has no field {key!r}")
        else:
            kept[key] = value
    default = TrainConfig()
    if kept and all(_same(getattr(default, key), value) for key, value in kept.items()):
        notes.append(f"{kept} is already the default here; recipe skipped")
        kept = {}
    return kept, notes


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return list(a) == list(b)
    return a == b


def describe(overrides: dict[str, Any]) -> str:
    return ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in overrides.items()) or "-"


# -- running ----------------------------------------------------------------------------------------
def train_once(
    data: Path, run_dir: Path, args: argparse.Namespace, seed: int, overrides: dict[str, Any]
) -> dict:
    """One ``fit``: the default call plus ``overrides``; returns its figures (or the error)."""
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a previous run of this benchmark; fit would append to its logs
    settings: dict[str, Any] = dict(
        data=str(data),
        model=args.model,
        width_mult=args.width,
        resolution=args.resolution,
        epochs=args.epochs,
        out=str(run_dir),
        progress=False,
    )
    if seed != 0:  # 0 is TrainConfig's default: the default run sets nothing it need not
        settings["seed"] = seed
    settings.update(overrides)
    started = time.perf_counter()
    try:
        result = fit(TrainConfig(**settings, overwrite=True))  # a rerun replaces its own runs
    except Exception as error:
        return {
            "seed": seed,
            "error": f"{type(error).__name__}: {error}",
            "wall_seconds": time.perf_counter() - started,
        }
    wall = time.perf_counter() - started
    if not args.keep_checkpoints:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    history = result.history
    return {
        "seed": seed,
        "final_top1": float(result.final.get("top1", float("nan"))),
        "best_top1": float(result.best_top1),
        "best_epoch": int(result.best_epoch),
        "first_train_loss": float(history[0]["train_loss"]) if history else float("nan"),
        "last_train_loss": float(history[-1]["train_loss"]) if history else float("nan"),
        "train_seconds": float(result.train_seconds),
        "wall_seconds": wall,
        "epochs": [
            {
                k: v
                for k, v in record.items()
                if k in ("epoch", "train_loss", "val_loss", "val_top1", "ema_top1")
            }
            for record in history
        ],
    }


def aggregate(runs: list[dict]) -> dict[str, Any]:
    """Means over the seeds that finished (None when none did)."""
    done = [r for r in runs if "error" not in r]
    keys = ("final_top1", "best_top1", "first_train_loss", "last_train_loss", "train_seconds", "wall_seconds")
    summary: dict[str, Any] = {k: (statistics.fmean(r[k] for r in done) if done else None) for k in keys}
    summary["final_top1_per_seed"] = [r.get("final_top1") for r in runs]
    summary["errors"] = [r["error"] for r in runs if "error" in r]
    return summary


def same_as_default(runs: list[dict], default_runs: list[dict]) -> bool:
    """Whether every seed's run retraced the default's epoch by epoch (same losses and top-1).

    A tuned recipe can set a value the default derives to the same thing (for example BN momentum
    0.1 where the default derives 0.1 from the run length); it is then no comparison at all.
    """

    def trace(run: dict) -> list[tuple[float | None, ...]]:
        keys = ("train_loss", "val_loss", "val_top1", "ema_top1")
        return [tuple(e.get(k) for k in keys) for e in run.get("epochs", [])] + [(run.get("final_top1"),)]

    by_seed = {r["seed"]: trace(r) for r in default_runs if "error" not in r}
    done = [r for r in runs if "error" not in r]
    return bool(done) and all(by_seed.get(r["seed"]) == trace(r) for r in done)


def pct(value: float | None) -> str:
    return "failed" if value is None else f"{100 * value:.1f}%"


def loss_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


# -- provenance -------------------------------------------------------------------------------------
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def code_version() -> str:
    """The mobilenets source that ran: its path, the repository commit and whether src/ was edited."""
    source = Path(mobilenets.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"mobilenets {mobilenets.__version__} from {source}"
    in_repo = source.is_relative_to(REPO)
    state = (" + uncommitted changes in src/" if dirty else "") if in_repo else " (not this checkout's src/)"
    return f"mobilenets {mobilenets.__version__} from {source}, repository at {commit}{state}"


# -- reports ----------------------------------------------------------------------------------------
def dataset_rows(entry: dict) -> list[list[str]]:
    rows = []
    for recipe in entry["recipes"]:
        s = recipe["summary"]
        per_seed = ""
        if len(s["final_top1_per_seed"]) > 1:
            per_seed = " (" + ", ".join(pct(v) for v in s["final_top1_per_seed"]) + ")"
        rows.append(
            [
                recipe["name"] + (" (= default)" if recipe.get("same_as_default") else ""),
                describe(recipe["overrides"]),
                pct(s["final_top1"]) + per_seed,
                pct(s["best_top1"]),
                f"{loss_text(s['first_train_loss'])} -> {loss_text(s['last_train_loss'])}",
                "-" if s["wall_seconds"] is None else f"{s['wall_seconds']:.0f} s",
            ]
        )
    return rows


DATASET_COLUMNS = (
    "recipe",
    "overrides",
    "final top-1",
    "best-epoch top-1",
    "train loss first -> last",
    "wall",
)
SUMMARY_COLUMNS = (
    "dataset",
    "classes",
    "train / val",
    "default top-1",
    "best tuned recipe",
    "its top-1",
    "gap (points)",
    "default at chance, loss fell",
)


def summarize(entry: dict) -> dict[str, Any]:
    """The summary row's figures and the verdict for one dataset."""
    default = entry["recipes"][0]["summary"]
    tuned = [
        r
        for r in entry["recipes"][1:]
        if r["summary"]["final_top1"] is not None and not r.get("same_as_default")
    ]
    best = max(tuned, key=lambda r: r["summary"]["final_top1"], default=None)
    classes = len(entry["manifest"]["classes"])
    chance = 1.0 / classes
    out: dict[str, Any] = {
        "classes": classes,
        "chance_top1": chance,
        "default_top1": default["final_top1"],
        "best_tuned": best["name"] if best else None,
        "best_tuned_top1": best["summary"]["final_top1"] if best else None,
    }
    d, b = out["default_top1"], out["best_tuned_top1"]
    out["gap_points"] = None if d is None or b is None else 100 * (b - d)
    out["default_at_chance"] = d is not None and abs(100 * (d - chance)) <= CHANCE_POINTS
    first, last = default["first_train_loss"], default["last_train_loss"]
    out["default_loss_fell"] = first is not None and last is not None and last < 0.95 * first
    if d is None:
        out["within"] = None
    elif b is None:
        out["within"] = True  # nothing tuned to compare with
    else:
        out["within"] = out["gap_points"] <= WITHIN_POINTS
    return out


def summary_row(entry: dict) -> list[str]:
    s = entry["summary"]
    m = entry["manifest"]
    gap = "-" if s["gap_points"] is None else f"{s['gap_points']:+.1f}"
    at_chance = "yes" if s["default_at_chance"] else "no"
    fell = "fell" if s["default_loss_fell"] else "did not fall"
    return [
        entry["dataset"],
        str(s["classes"]),
        f"{m['train_images']} / {m['val_images']}",
        pct(s["default_top1"]) + f" (chance {100 * s['chance_top1']:.1f}%)",
        s["best_tuned"] or "-",
        pct(s["best_tuned_top1"]) if s["best_tuned"] else "-",
        gap,
        f"{at_chance}, loss {fell}",
    ]


def verdict(entry: dict) -> str:
    s = entry["summary"]
    answer = {True: "yes", False: "no", None: "no (default run failed)"}[s["within"]]
    line = f"{entry['dataset']}: default within {WITHIN_POINTS:g} points of best tuned: {answer}"
    if s["default_top1"] is not None and s["best_tuned"]:
        line += (
            f" (default {pct(s['default_top1'])}, best tuned {s['best_tuned']} {pct(s['best_tuned_top1'])})"
        )
    if s["default_at_chance"] and s["default_loss_fell"]:
        line += "; the default is at chance while its training loss fell"
    return line


def markdown_table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(path: Path, report: dict) -> None:
    meta = report["meta"]
    parts = [
        "# Default recipe on unseen data",
        "",
        f"`{meta['command']}`",
        "",
        f"{meta['date']}, {meta['cpu']}, {meta['threads']} threads, torch {meta['torch']}; {meta['code']}.",
        f"{meta['model']} α={meta['width']:g} at {meta['resolution']} px, {meta['epochs']} epochs, "
        f"seeds {meta['seeds']}, grid {meta['grid']}; total {meta['total_minutes']:.1f} min.",
        "Top-1 is the final weights' on the validation folder; the best epoch's selects on it. "
        "A recipe marked (= default) retraced the default run epoch by epoch (the default derives "
        "the same value) and is left out of the best tuned recipe.",
        "",
        "## Summary",
        "",
        markdown_table(SUMMARY_COLUMNS, [summary_row(e) for e in report["datasets"]]),
        "",
    ]
    parts += [f"- {verdict(e)}" for e in report["datasets"]]
    for entry in report["datasets"]:
        m = entry["manifest"]
        parts += [
            "",
            f"## {entry['dataset']}",
            "",
            f"{m['description']}. {m['train_images']} train / {m['val_images']} val images; {m['split']}; "
            f"widths {m['width_range'][0]}-{m['width_range'][1]} px, heights "
            f"{m['height_range'][0]}-{m['height_range'][1]} px; "
            f"formats {', '.join(f'{k} {v}' for k, v in m['formats'].items())}.",
            "",
            markdown_table(DATASET_COLUMNS, dataset_rows(entry)),
        ]
        if entry["notes"]:
            parts += [""] + [f"- {note}" for note in entry["notes"]]
    path.write_text("\n".join(parts) + "\n")


# -- main -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/unseen_data", help="datasets in OUT/data, runs in OUT/runs")
    parser.add_argument("--datasets", nargs="*", default=list(SPECS), choices=list(SPECS))
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the dataset builders")
    parser.add_argument("--model", default="mobilenet_v1")
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="training seeds (figures are means)"
    )
    parser.add_argument("--grid", choices=list(GRIDS), default="small", help="tuned recipes to compare with")
    # One thread by default: on this shared 2-core machine, 2 torch threads next to another busy
    # process made a training step ~25x slower (OpenMP threads waiting on each other), 1 thread
    # did not slow down at all; on an idle machine 2 threads are only ~1.5x faster.
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--label", default="", help="free text recorded with the figures (which code ran)")
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep each run's checkpoints/")
    parser.add_argument(
        "--write", action="store_true", help=f"also write {RESULTS}/unseen_data.md and unseen_data.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    console = Console(width=160)
    started = time.perf_counter()
    meta = {
        "command": "python benchmarks/unseen_data.py " + shlex.join(sys.argv[1:]),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "code": code_version() + (f"; {args.label}" if args.label else ""),
        "model": args.model,
        "width": args.width,
        "resolution": args.resolution,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "grid": args.grid,
    }
    console.print(
        f"{meta['date']}, {meta['cpu']}, {meta['threads']} threads, torch {meta['torch']}\n{meta['code']}\n"
        f"default: TrainConfig(data=DIR, model={args.model!r}, width_mult={args.width}, "
        f"resolution={args.resolution}, epochs={args.epochs}, out=RUN, progress=False)"
    )

    recipes: list[tuple[str, dict[str, Any], list[str]]] = [("default", {}, [])]
    grid_notes: list[str] = []
    for name, overrides in GRIDS[args.grid].items():
        kept, notes = usable_overrides(overrides)
        grid_notes += [f"{name}: {note}" for note in notes]
        if kept:
            recipes.append((name, kept, notes))
    for note in grid_notes:
        console.print(f"[yellow]note[/yellow] {note}")

    report: dict[str, Any] = {"meta": meta, "datasets": []}
    for dataset in args.datasets:
        data_dir = out / "data" / dataset
        manifest = ensure_dataset(dataset, data_dir, args.data_seed)
        console.rule(f"{dataset}: {manifest['description']}")
        console.print(
            f"{data_dir}: {len(manifest['classes'])} classes, {manifest['train_images']} train / "
            f"{manifest['val_images']} val images, formats {manifest['formats']}"
        )
        entry: dict[str, Any] = {"dataset": dataset, "manifest": manifest, "recipes": [], "notes": grid_notes}
        for name, overrides, _ in recipes:
            runs = []
            for seed in args.seeds:
                run = train_once(
                    data_dir, out / "runs" / dataset / name / f"seed{seed}", args, seed, overrides
                )
                runs.append(run)
                if "error" in run:
                    console.print(f"[red]{dataset} {name} seed {seed} failed[/red]: {run['error']}")
                else:
                    console.print(
                        f"[bold]{dataset} {name} seed {seed}[/bold]: final {pct(run['final_top1'])}, best "
                        f"{pct(run['best_top1'])} (epoch {run['best_epoch']}), train loss "
                        f"{run['first_train_loss']:.3f} -> {run['last_train_loss']:.3f}, "
                        f"{run['wall_seconds']:.0f} s"
                    )
            recipe = {"name": name, "overrides": overrides, "runs": runs, "summary": aggregate(runs)}
            if entry["recipes"]:
                recipe["same_as_default"] = same_as_default(runs, entry["recipes"][0]["runs"])
            entry["recipes"].append(recipe)
        entry["summary"] = summarize(entry)
        report["datasets"].append(entry)
        table = Table(title=f"{dataset}: validation top-1 of the final weights, {args.epochs} epochs")
        for column in DATASET_COLUMNS:
            table.add_column(column, justify="left" if column in ("recipe", "overrides") else "right")
        for row in dataset_rows(entry):
            table.add_row(*row)
        console.print(table)
        if any(r.get("same_as_default") for r in entry["recipes"]):
            console.print(
                "(= default): retraced the default run epoch by epoch; not counted as a tuned recipe"
            )

    meta["total_minutes"] = (time.perf_counter() - started) / 60
    table = Table(title=f"summary: {meta['date']}, {meta['cpu']}, {meta['total_minutes']:.1f} min in all")
    for column in SUMMARY_COLUMNS:
        table.add_column(column, justify="left" if column in ("dataset", "best tuned recipe") else "right")
    for entry in report["datasets"]:
        table.add_row(*summary_row(entry))
    console.print(table)
    for entry in report["datasets"]:
        console.print(verdict(entry))

    out.mkdir(parents=True, exist_ok=True)
    (out / "unseen_data.json").write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"figures: {out / 'unseen_data.json'}")
    if args.write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "unseen_data.json").write_text(json.dumps(report, indent=2) + "\n")
        write_markdown(RESULTS / "unseen_data.md", report)
        console.print(f"wrote {RESULTS / 'unseen_data.md'} and {RESULTS / 'unseen_data.json'}")


if __name__ == "__main__":
    main()
