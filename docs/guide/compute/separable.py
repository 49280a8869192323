"""Depthwise separable convolution: the 1/N + 1/K² formula, our exact count, and measured CPU time.

One layer maps M = 128 channels of a 28 × 28 map to N channels with a K × K kernel, once as a
standard convolution and once as depthwise K × K + pointwise 1 × 1 (the package's
``standard_and_separable``, the layers ``benchmarks/separable_vs_standard.py`` also times). N is
swept at K = 3 and K at N = 256. The counts come from ``compare_layers`` and ``profile``; the times
are measured here, one intra-op thread, batch 1, float32, eager PyTorch.
"""

from __future__ import annotations

import datetime
import statistics
from dataclasses import dataclass
from fractions import Fraction
from functools import partial

import torch
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
from torch import nn

from compute.common import Output, count, markdown_table, ratio
from mobilenets.bench.cpu_peak import estimate_cpu_peak
from mobilenets.bench.timing import time_calls, torch_threads
from mobilenets.cost.profiler import profile
from mobilenets.cost.separable_comparison import LayerComparison, compare_layers, standard_and_separable

PAGE = "separable"
KEY_NUMBERS = ("example_standard", "example_separable", "example_ratio")

IN_CHANNELS = 128  # M
MAP_SIZE = 28  # D_F: a middle stage of MobileNetV1 at 224 px
SWEEP_N = (16, 32, 64, 128, 256, 512, 1024)  # at K = 3
SWEEP_K = (3, 5, 7, 9)  # at N = 256
EXAMPLE = (256, 3)  # (N, K): the layer the text works through
THREADS = 1  # one thread: on a shared 2-core machine, two threads spin against other processes
BYTES = 4  # float32
LAYERS = ("standard", "depthwise", "pointwise", "separable")

MEASURED = frozenset(
    {
        "table",
        "intensity_table",
        "median_gap",
        "shapes_time_worse",
        "example_time_ratio",
        "example_std_ms",
        "example_sep_ms",
        "std_gmacs",
        "dw_gmacs",
        "pw_gmacs",
        "dw_peak_pct",
        "pw_peak_pct",
        "std_peak_pct",
        "peak_gmacs",
        "dw_time_share",
        "dw_macs_share",
        "verdict",
        "verdict_zh",
        "std_gmacs_range",
        "dw_gmacs_range",
        "pw_gmacs_range",
        "pair_gmacs",
    }
)


@dataclass(frozen=True)
class Shape:
    """One (N, K): the counts of its layers and their measured best times."""

    comparison: LayerComparison
    macs: dict[str, int]  # per layer of LAYERS
    bytes_moved: dict[str, int]  # input + weights + output, float32, for the three single layers
    ms: dict[str, float]

    @property
    def time_ratio(self) -> float:
        return self.ms["separable"] / self.ms["standard"]

    def gmacs(self, layer: str) -> float:
        return self.macs[layer] / self.ms[layer] / 1e6


def counted(out_channels: int, kernel: int) -> tuple[LayerComparison, dict[str, int], dict[str, int]]:
    """The package's counts of the standard layer, the depthwise and pointwise layers and the pair."""
    comparison = compare_layers(IN_CHANNELS, out_channels, kernel, MAP_SIZE)
    _, separable = standard_and_separable(IN_CHANNELS, out_channels, kernel)
    split = {row.name: row for row in profile(separable, (IN_CHANNELS, MAP_SIZE, MAP_SIZE)).layers}
    macs = {
        "standard": comparison.standard_mult_adds,
        "depthwise": split["dw"].mult_adds,
        "pointwise": split["pw"].mult_adds,
        "separable": comparison.separable_mult_adds,
    }
    inputs = IN_CHANNELS * MAP_SIZE**2
    out_numel = out_channels * MAP_SIZE**2
    bytes_moved = {
        "standard": BYTES * (inputs + comparison.standard_params + out_numel),
        "depthwise": BYTES * (inputs + split["dw"].params + inputs),
        "pointwise": BYTES * (inputs + split["pw"].params + out_numel),
    }
    return comparison, macs, bytes_moved


def measure(shapes: list[tuple[int, int]], quick: bool) -> dict[tuple[int, int], dict[str, float]]:
    """Best time (ms) of each layer of each shape, over rounds that visit every layer in turn.

    The minimum is the run least disturbed by other processes on a shared machine; the rounds
    spread a slow spell over every layer instead of the one that happened to run during it.
    """
    rounds, seconds = (1, 0.01) if quick else (5, 0.08)
    torch.manual_seed(0)
    calls: dict[tuple[tuple[int, int], str], tuple[nn.Module, torch.Tensor]] = {}
    for n, k in shapes:
        standard, separable = standard_and_separable(IN_CHANNELS, n, k)
        x = torch.randn(1, IN_CHANNELS, MAP_SIZE, MAP_SIZE)
        layers = {"standard": standard, "depthwise": separable.dw, "pointwise": separable.pw}
        layers["separable"] = separable
        for name, layer in layers.items():
            calls[((n, k), name)] = (layer.eval(), x)
    best: dict[tuple[tuple[int, int], str], float] = {}
    with torch_threads(THREADS), torch.inference_mode():
        for round_ in range(rounds):
            for key, (layer, x) in calls.items():
                samples = time_calls(partial(layer, x), warmup=2 if round_ == 0 else 1, min_seconds=seconds)
                best[key] = min(best.get(key, float("inf")), 1000 * min(samples))
    return {shape: {name: best[(shape, name)] for name in LAYERS} for shape in shapes}


def log_ticks(axis: Axis, values: list[float]) -> None:
    """Plain 1-2-3-5 tick labels on a log axis (matplotlib writes 4×10¹ style labels otherwise)."""
    low, high = min(values), max(values)
    ticks = [m * 10**e for e in range(-3, 5) for m in (1, 2, 3, 5) if low / 1.3 <= m * 10**e <= high * 1.3]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def figure_ratios(shapes: dict[tuple[int, int], Shape], stamp: str) -> Figure:
    figure = Figure(figsize=(10, 4.2), layout="constrained")
    panels = figure.subplots(1, 2, sharey=True)
    sweeps = (("N (output channels), K = 3", SWEEP_N, lambda v: (v, 3)),)
    sweeps += (("K (kernel size), N = 256", SWEEP_K, lambda v: (256, v)),)
    for ax, (label, values, key) in zip(panels, sweeps, strict=True):
        rows = [shapes[key(v)] for v in values]
        ax.plot(values, [r.comparison.analytic_ratio for r in rows], "-", color="#1f77b4", label="1/N + 1/K²")
        ax.plot(
            values,
            [r.comparison.counted_ratio for r in rows],
            "x",
            color="black",
            ms=9,
            label="counted Mult-Adds (exact)",
        )
        ax.plot(values, [r.time_ratio for r in rows], "o--", color="#d62728", label="measured CPU time")
        ax.set_xscale("log", base=2)
        ax.set_xticks(values, [str(v) for v in values])
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    everything = [v for s in shapes.values() for v in (s.time_ratio, s.comparison.counted_ratio)]
    log_ticks(panels[0].yaxis, everything)  # the panels share the axis: one set of ticks for both
    panels[0].set_ylabel("separable / standard")
    panels[1].legend(loc="upper right")
    figure.suptitle(
        f"Depthwise separable over standard convolution, M = {IN_CHANNELS}, "
        f"{MAP_SIZE}×{MAP_SIZE} map\n{stamp}"
    )
    return figure


def figure_intensity(shapes: dict[tuple[int, int], Shape], peak: float, stamp: str) -> Figure:
    figure = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = figure.subplots()
    colours = {"standard": "#ff7f0e", "depthwise": "#2ca02c", "pointwise": "#1f77b4"}
    for layer, colour in colours.items():
        xs = [s.macs[layer] / s.bytes_moved[layer] for s in shapes.values()]
        ys = [s.gmacs(layer) for s in shapes.values()]
        ax.scatter(xs, ys, color=colour, label=f"{layer} ({len(xs)} shapes)", alpha=0.8)
    ax.axhline(peak, color="black", ls=":", label=f"estimated fp32 peak, {THREADS} thread")
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_ticks(ax.xaxis, [s.macs[k] / s.bytes_moved[k] for s in shapes.values() for k in colours])
    log_ticks(ax.yaxis, [s.gmacs(k) for s in shapes.values() for k in colours] + [peak])
    ax.set_xlabel("arithmetic intensity: Mult-Adds per byte of input, weights and output (fp32)")
    ax.set_ylabel("measured GMAC/s")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"Work per byte against speed, every layer of the sweep\n{stamp}")
    return figure


def verdict(worse: int, shapes: int) -> tuple[str, str]:
    """One sentence per language on how measured time compares with the count, whichever way it went."""
    if worse == shapes:
        return (
            "At every shape of the sweep the separable pair saved less time than it saved Mult-Adds.",
            "在扫描的每一个形状上，可分离的两层省下的时间都少于省下的乘加。",
        )
    if worse == 0:
        return (
            "At no shape of the sweep did the separable pair save less time than it saved Mult-Adds: "
            "on this machine the standard convolution itself ran further below its peak than the pair "
            "did (see the next section), which hides the depthwise layer's cost.",
            "在扫描的所有形状上，可分离的两层省下的时间都不少于省下的乘加：在这台机器上，标准卷积自身离峰值"
            "比这两层还远（见下一节），掩盖了深度卷积的代价。",
        )
    return (
        f"At {worse} of the {shapes} shapes the separable pair saved less time than it saved "
        "Mult-Adds; at the others the standard convolution ran slower per Mult-Add than the pair did "
        "(see the next section).",
        f"在 {shapes} 个形状中的 {worse} 个上，可分离的两层省下的时间少于省下的乘加；在其余形状上，"
        "标准卷积每次乘加反而比这两层更慢（见下一节）。",
    )


def gmacs_range(shapes: dict[tuple[int, int], Shape], layer: str) -> str:
    speeds = [s.gmacs(layer) for s in shapes.values()]
    return f"{min(speeds):.1f}–{max(speeds):.1f}"


def make(out: Output) -> dict[str, str]:
    keys = list(dict.fromkeys([(n, 3) for n in SWEEP_N] + [(256, k) for k in SWEEP_K]))
    counts = {key: counted(*key) for key in keys}
    times = measure(keys, out.quick)
    shapes = {key: Shape(*counts[key], times[key]) for key in keys}
    cpu = estimate_cpu_peak(threads=THREADS)
    stamp = f"{cpu.cpu_name}, {THREADS} thread, {datetime.date.today().isoformat()}"
    out.save(figure_ratios(shapes, stamp), "separable_ratios")
    out.save(figure_intensity(shapes, cpu.gmacs, stamp), "separable_intensity")

    exact = sum(
        Fraction(s.comparison.separable_mult_adds, s.comparison.standard_mult_adds)
        == Fraction(1, s.comparison.out_channels) + Fraction(1, s.comparison.kernel_size**2)
        for s in shapes.values()
    )
    rows = []
    for (n, k), s in shapes.items():
        c = s.comparison
        rows.append(
            [
                str(n),
                str(k),
                f"{c.analytic_ratio:.4f}",
                count(c.standard_mult_adds),
                count(c.separable_mult_adds),
                f"{c.counted_ratio:.4f}",
                f"{s.time_ratio:.4f}",
                f"{s.ms['standard']:.3f}",
                f"{s.ms['separable']:.3f}",
            ]
        )
    table = markdown_table(
        [
            "N",
            "K",
            "1/N + 1/K²",
            "standard Mult-Adds",
            "separable Mult-Adds",
            "counted ratio",
            "measured time ratio",
            "standard ms",
            "separable ms",
        ],
        rows,
    )

    example = shapes[EXAMPLE]
    intensity_rows = []
    for layer in ("standard", "depthwise", "pointwise"):
        intensity_rows.append(
            [
                layer,
                count(example.macs[layer]),
                count(example.bytes_moved[layer]),
                f"{example.macs[layer] / example.bytes_moved[layer]:.1f}",
                f"{example.ms[layer]:.3f}",
                f"{example.gmacs(layer):.1f}",
                f"{100 * example.gmacs(layer) / cpu.gmacs:.0f}%",
            ]
        )
    intensity_table = markdown_table(
        [
            "layer",
            "Mult-Adds",
            "bytes moved (fp32)",
            "Mult-Adds per byte",
            "measured ms",
            "GMAC/s",
            "share of peak",
        ],
        intensity_rows,
    )
    gaps = [s.time_ratio / s.comparison.counted_ratio for s in shapes.values()]
    worse = sum(gap > 1 for gap in gaps)
    verdict_en, verdict_zh = verdict(worse, len(shapes))
    c = example.comparison
    pair_ms = example.ms["depthwise"] + example.ms["pointwise"]

    def per_byte(layer: str) -> str:
        return f"{example.macs[layer] / example.bytes_moved[layer]:.1f}"

    return {
        "in_channels": str(IN_CHANNELS),
        "map_size": str(MAP_SIZE),
        "threads": str(THREADS),
        "sweep_n": ", ".join(map(str, SWEEP_N)),
        "sweep_k": ", ".join(map(str, SWEEP_K)),
        "shapes": str(len(shapes)),
        "formula_exact": str(exact),
        "table": table,
        "intensity_table": intensity_table,
        "example_n": str(c.out_channels),
        "example_k": str(c.kernel_size),
        "example_standard": count(c.standard_mult_adds),
        "example_separable": count(c.separable_mult_adds),
        "example_ratio": f"{c.counted_ratio:.4f}",
        "example_saving": f"{1 / c.counted_ratio:.1f}",
        "example_params_ratio": f"{c.params_ratio:.4f}",
        "example_time_ratio": f"{example.time_ratio:.4f}",
        "example_std_ms": f"{example.ms['standard']:.3f}",
        "example_sep_ms": f"{example.ms['separable']:.3f}",
        "median_gap": ratio(statistics.median(gaps)),
        "shapes_time_worse": str(worse),
        "verdict": verdict_en,
        "verdict_zh": verdict_zh,
        "std_gmacs_range": gmacs_range(shapes, "standard"),
        "dw_gmacs_range": gmacs_range(shapes, "depthwise"),
        "pw_gmacs_range": gmacs_range(shapes, "pointwise"),
        "pair_gmacs": f"{example.gmacs('separable'):.1f}",
        "std_intensity": per_byte("standard"),
        "dw_intensity": per_byte("depthwise"),
        "pw_intensity": per_byte("pointwise"),
        "std_gmacs": f"{example.gmacs('standard'):.1f}",
        "dw_gmacs": f"{example.gmacs('depthwise'):.1f}",
        "pw_gmacs": f"{example.gmacs('pointwise'):.1f}",
        "std_peak_pct": f"{100 * example.gmacs('standard') / cpu.gmacs:.0f}",
        "dw_peak_pct": f"{100 * example.gmacs('depthwise') / cpu.gmacs:.0f}",
        "pw_peak_pct": f"{100 * example.gmacs('pointwise') / cpu.gmacs:.0f}",
        "peak_gmacs": f"{cpu.gmacs:.0f}",
        "dw_macs_share": f"{100 * example.macs['depthwise'] / example.macs['separable']:.1f}",
        "dw_time_share": f"{100 * example.ms['depthwise'] / pair_ms:.0f}",
    }
