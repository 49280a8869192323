"""Training throughput: our loop (``train.train_one_epoch``) against a plain eager PyTorch loop.

Both train the same MobileNetV2 at 128 px with batch 32 on the same synthetic images, through
a DataLoader, with SGD + momentum. The plain loop is what a tutorial writes: fp32, default
(NCHW) memory format, per-parameter optimizer kernels. Ours runs each configuration listed in
``VARIANTS`` (channels_last, multi-tensor optimizer, optionally bf16 autocast and
torch.compile). Rounds alternate plain / ours so a busy machine slows both alike.

    .venv/bin/python benchmarks/train_speed.py                 # all variants
    .venv/bin/python benchmarks/train_speed.py --variants channels_last --steps 10
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from mobilenets import create_model
from mobilenets.data.augment import Normalize
from mobilenets.data.datasets import ArrayDataset, make_loader
from mobilenets.train.distributed import DistributedContext
from mobilenets.train.loop import StepContext, TrainConfig, train_one_epoch
from mobilenets.train.optim import ScheduleConfig, build_optimizer, build_scheduler
from mobilenets.train.progress import TrainProgress
from mobilenets.train.state import TrainState

MODEL, RESOLUTION, BATCH = "mobilenet_v2", 128, 32
VARIANTS = {
    "channels_last": {"channels_last": True, "amp": "off", "compile": False},
    "channels_last+bf16": {"channels_last": True, "amp": "bf16", "compile": False},
    "compile+channels_last": {"channels_last": True, "amp": "off", "compile": True},
    "compile+channels_last+bf16": {"channels_last": True, "amp": "bf16", "compile": True},
}


def synthetic(count: int, seed: int) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, RESOLUTION, RESOLUTION, 3), dtype=np.uint8)
    labels = rng.integers(0, 1000, count)
    return ArrayDataset(images, labels, [str(i) for i in range(1000)])


def fresh_model() -> nn.Module:
    torch.manual_seed(0)
    return create_model(MODEL, resolution_mult=RESOLUTION / 224, num_classes=1000)


class StepClock(TrainProgress):
    """A silent progress display that records when each step ends (wall and CPU time)."""

    def __init__(self) -> None:
        super().__init__(Console(), 1, enabled=False)
        self.marks: list[tuple[float, float]] = []

    def advance(self, loss: float, lr: float, images: int) -> None:
        self.marks.append((time.perf_counter(), time.process_time()))


def per_step(marks: list[tuple[float, float]]) -> tuple[float, float]:
    """Median wall and CPU seconds per step, from consecutive step-end marks.

    Medians, not totals: on a shared machine a burst of load hits a few steps, not the median.
    """
    walls = [b[0] - a[0] for a, b in itertools.pairwise(marks)]
    cpus = [b[1] - a[1] for a, b in itertools.pairwise(marks)]
    return statistics.median(walls), statistics.median(cpus)


def plain_loop(warmup: ArrayDataset, timed: ArrayDataset) -> tuple[float, float]:
    """A textbook eager loop; returns median (wall, CPU) seconds per step over ``timed``."""
    model = fresh_model().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=4e-5)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    marks: list[tuple[float, float]] = []

    def epoch(dataset: ArrayDataset) -> None:
        loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, drop_last=True)
        marks.append((time.perf_counter(), time.process_time()))
        for images, labels in loader:
            loss = nn.functional.cross_entropy(model((images - mean) / std), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # as our loop does (the NaN guard); on CPU it costs nothing
            marks.append((time.perf_counter(), time.process_time()))

    epoch(warmup)
    marks.clear()
    epoch(timed)
    return per_step(marks)


def our_loop(warmup: ArrayDataset, timed: ArrayDataset, variant: dict[str, object]) -> tuple[float, float]:
    """``train_one_epoch`` with this package's settings; median (wall, CPU) seconds per step."""
    config = TrainConfig(model=MODEL, resolution=RESOLUTION, batch_size=BATCH, augment="none", **variant)
    model = fresh_model()
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    train_model = torch.compile(model) if config.compile else model
    optimizer = build_optimizer(model, "sgd", 0.01, 4e-5, fused=True)
    scheduler = build_scheduler(optimizer, ScheduleConfig("constant"))
    state = TrainState(
        model, train_model, optimizer, scheduler, torch.amp.GradScaler("cpu", enabled=False), None
    )
    context = DistributedContext()
    autocast = torch.bfloat16 if config.amp == "bf16" else None
    normalize = Normalize(model.preprocess.mean, model.preprocess.std)

    def epoch(dataset: ArrayDataset) -> list[tuple[float, float]]:
        loader = make_loader(dataset, BATCH, train=True)
        clock = StepClock()
        clock.marks.append((time.perf_counter(), time.process_time()))
        step = StepContext(config, context, nn.Identity(), normalize, len(dataset) // BATCH, autocast, clock)
        train_one_epoch(state, loader, step)
        state.step_in_epoch = 0
        return clock.marks

    epoch(warmup)  # compiles, when compiling
    return per_step(epoch(timed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating plain/ours rounds")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warmup, timed = synthetic(args.warmup * BATCH, 1), synthetic(args.steps * BATCH, 2)
    console = Console(width=120)
    console.print(
        f"{MODEL} at {RESOLUTION} px, batch {BATCH}, {args.steps} timed steps, {args.rounds} rounds, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    plain_name = "plain eager (fp32, NCHW)"
    results: dict[str, list[tuple[float, float]]] = {plain_name: []}
    for round_index in range(args.rounds):
        for name in args.variants:
            # Each variant runs right after its own plain run, so both see the same load.
            results[plain_name].append(plain_loop(warmup, timed))
            results.setdefault(name, []).append(our_loop(warmup, timed, VARIANTS[name]))
            (plain_wall, _), (ours_wall, _) = results[plain_name][-1], results[name][-1]
            console.print(
                f"round {round_index + 1}: plain {BATCH / plain_wall:.1f} img/s, "
                f"{name} {BATCH / ours_wall:.1f} img/s"
            )
    table = Table(title="training throughput: median step time; ratios are medians of paired runs")
    for column in ("loop", "img/s (wall)", "img per CPU-second", "vs plain (wall)", "vs plain (CPU)"):
        table.add_column(column, justify="left" if column == "loop" else "right")
    plain_runs = results[plain_name]
    wall = statistics.median(BATCH / w for w, _ in plain_runs)
    cpu = statistics.median(BATCH / c for _, c in plain_runs)
    table.add_row(plain_name, f"{wall:.1f}", f"{cpu:.1f}", "1.00x", "1.00x")
    for index, name in enumerate(args.variants):
        ours = results[name]
        paired = list(zip(ours, plain_runs[index :: len(args.variants)], strict=True))
        table.add_row(
            f"ours: {name}",
            f"{statistics.median(BATCH / w for w, _ in ours):.1f}",
            f"{statistics.median(BATCH / c for _, c in ours):.1f}",
            f"{statistics.median(p[0] / o[0] for o, p in paired):.2f}x",
            f"{statistics.median(p[1] / o[1] for o, p in paired):.2f}x",
        )
    console.print(table)
    console.print(
        "img per CPU-second divides by the CPU time all threads used: on a machine shared with other "
        "jobs it is the steadier measure of how fast the loop is when it has the cores to itself."
    )


if __name__ == "__main__":
    main()
