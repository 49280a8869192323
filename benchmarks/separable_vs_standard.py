"""Standard against depthwise separable convolution: analytic, counted and measured ratios.

For each (M, N, K, D_F) the script prints three figures side by side:

- analytic: 1/N + 1/K^2, the V1 paper's Section 3.1;
- counted: separable / standard Mult-Adds, counted by ``mobilenets.profile`` on the two layers;
- CPU time: the measured time of the separable pair over the standard convolution (batch 1,
  no grad; the fastest of ``torch.utils.benchmark``'s blocks of runs, which is the figure least
  disturbed by other processes on a shared machine).

The counted ratio equals the analytic one exactly. The time ratio does not: depthwise
convolutions do little arithmetic per byte moved, so on real hardware they save less time
than they save Mult-Adds. That gap is why MobileNetV2/V3 were tuned on measured latency.

One intra-op thread by default (``--threads``): on a shared 2-core machine two threads spin
against other processes and the timings stop meaning anything.

Run: .venv/bin/python benchmarks/separable_vs_standard.py [--threads T] [--shape M N K D_F ...]
"""

from __future__ import annotations

import argparse

import torch
from torch.utils import benchmark

from mobilenets.cost.separable_comparison import compare_layers, standard_and_separable

# (M, N, K, D_F): the shapes of MobileNetV1's separable layers at 224 px (Table 1), plus a 5x5.
SHAPES = [
    (32, 64, 3, 112),
    (64, 128, 3, 56),
    (128, 128, 3, 56),
    (128, 256, 3, 28),
    (256, 256, 3, 28),
    (256, 512, 3, 14),
    (512, 512, 3, 14),
    (512, 1024, 3, 7),
    (1024, 1024, 3, 7),
    (160, 160, 5, 14),
]


def fastest_seconds(layer: torch.nn.Module, x: torch.Tensor) -> float:
    timer = benchmark.Timer(stmt="layer(x)", globals={"layer": layer, "x": x})
    return min(timer.blocked_autorange(min_run_time=0.5).times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=4,
        action="append",
        metavar=("M", "N", "K", "D_F"),
        help="compare this layer instead of V1's (repeatable)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch 1, float32")
    header = f"{'M':>5} {'N':>5} {'K':>2} {'D_F':>4} | {'analytic':>9} {'counted':>9} {'CPU time':>9}"
    print(header + f" | {'standard ms':>11} {'separable ms':>12}")
    for m, n, k, d in args.shape or SHAPES:
        result = compare_layers(m, n, k, d)
        standard, separable = standard_and_separable(m, n, k)
        x = torch.randn(1, m, d, d)
        with torch.no_grad():
            t_standard = fastest_seconds(standard.eval(), x)
            t_separable = fastest_seconds(separable.eval(), x)
        print(
            f"{m:>5} {n:>5} {k:>2} {d:>4} | {result.analytic_ratio:>9.4f} {result.counted_ratio:>9.4f} "
            f"{t_separable / t_standard:>9.4f} | {1e3 * t_standard:>11.3f} {1e3 * t_separable:>12.3f}"
        )


if __name__ == "__main__":
    main()
