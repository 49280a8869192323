"""How long ``mobilenets.profile`` takes for each model with official weights at 224 px (target: under 1 s).

Each figure is the wall time of one complete call: building the model from its name
(weight initialisation included), the counting forward pass, and the report. The first
call in a process also pays for one-time start-up (PyTorch's lazy initialisation), so it
is shown apart; min and median are over the repeats that follow.

The counting pass is a batch-1 forward. On a shared 2-core machine, PyTorch's two intra-op
threads spin against other processes and one call can take ten times its usual time, so the
default here is one thread (``--threads 2`` to compare); the minimum is the cost of the code
itself, the median what a busy machine gives.

Run: .venv/bin/python benchmarks/profile_speed.py [--repeats N] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mobilenets import profile
from mobilenets.weights.catalog import published_models


def time_call(name: str) -> float:
    start = time.perf_counter()
    profile(name, 224)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    names = [*published_models(), "mobilenet_v1_conv"]  # and the full-convolution V1, 8x the Mult-Adds
    first = time_call(names[0])
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; first call in process: {first:.3f} s"
    )
    print(f"{'model':<28} {'Mult-Adds':>15} {'min s':>7} {'median s':>9} {'max s':>7}")
    slowest = 0.0
    for name in names:
        times = [time_call(name) for _ in range(args.repeats)]
        madds = profile(name, 224).total_mult_adds
        median = statistics.median(times)
        slowest = max(slowest, median) if name in published_models() else slowest
        print(f"{name:<28} {madds:>15,} {min(times):>7.3f} {median:>9.3f} {max(times):>7.3f}")
    verdict = "under" if slowest < 1.0 else "OVER"
    print(f"slowest zoo model (median): {slowest:.3f} s, {verdict} the 1 s target")


if __name__ == "__main__":
    main()
