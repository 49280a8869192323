"""α and ρ: MobileNetV1's Mult-Adds and parameters over the width × resolution grid, the published
accuracy of each point, and its measured latency on this machine.

Counts come from ``cost.reproduce.mult_adds_grid`` and ``profile``; the grid picture is the
package's ``plot_width_resolution_grid``. Latency: eager PyTorch, float32, batch 1, two intra-op
threads, random weights (the time does not depend on their values).
"""

from __future__ import annotations

import datetime
import statistics
import time
from fractions import Fraction
from functools import partial

import torch
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from compute.common import Output, count, markdown_table, millions
from mobilenets import create_model
from mobilenets.bench.cpu_peak import estimate_cpu_peak
from mobilenets.bench.timing import time_calls, torch_threads
from mobilenets.cost.paper_tables import V1_GRID_RESOLUTIONS, V1_GRID_WIDTHS, V1_TABLE6
from mobilenets.cost.plots import plot_width_resolution_grid
from mobilenets.cost.profiler import profile
from mobilenets.cost.reproduce import mult_adds_grid

PAGE = "width_resolution"
KEY_NUMBERS = ("m_075_224", "m_025_128")
THREADS = 2
# The tests' quick run times with one thread: on a busy shared 2-core machine, two threads wait on
# each other (one call of 1.0-224 took seconds instead of tens of milliseconds), and the quick
# run's times only have to exist, not to mean anything.
QUICK_THREADS = 1
BUDGET_SECONDS = 75  # no new round of timing after this; the whole page must run within 3 minutes
WIDTHS = V1_GRID_WIDTHS  # α: 1.0, 0.75, 0.5, 0.25
SIZES = V1_GRID_RESOLUTIONS  # 224, 192, 160, 128 px; ρ = size / 224
BASE = 224

# Published ImageNet top-1 (%), quoted, never recomputed. The package's paper_tables has V1
# Tables 6 and 7 without their accuracy column, so the figures live here for now.
# V1 paper (Howard et al. 2017, arXiv:1704.04861): Table 6 (α at 224 px) and Table 7 (ρ at α = 1).
PAPER_TOP1: dict[tuple[float, int], float] = {
    (1.0, 224): 70.6,
    (0.75, 224): 68.4,
    (0.5, 224): 63.7,
    (0.25, 224): 50.6,
    (1.0, 192): 69.1,
    (1.0, 160): 67.2,
    (1.0, 128): 64.4,
}
# The official TF-slim model list (tensorflow/models, research/slim/nets/mobilenet_v1.md, float
# checkpoints of 2018-02-22): top-1 (%) and the "Million MACs" it prints, for all 16 points.
SLIM: dict[tuple[float, int], tuple[float, int]] = {
    (1.0, 224): (70.9, 569),
    (1.0, 192): (70.0, 418),
    (1.0, 160): (68.0, 291),
    (1.0, 128): (65.2, 186),
    (0.75, 224): (68.4, 317),
    (0.75, 192): (67.2, 233),
    (0.75, 160): (65.3, 162),
    (0.75, 128): (62.1, 104),
    (0.5, 224): (63.3, 150),
    (0.5, 192): (61.7, 110),
    (0.5, 160): (59.1, 77),
    (0.5, 128): (56.3, 49),
    (0.25, 224): (49.8, 41),
    (0.25, 192): (47.7, 34),
    (0.25, 160): (45.5, 21),
    (0.25, 128): (41.5, 14),
}

MEASURED = frozenset(
    {
        "latency_table",
        "threads",
        "ms_largest",
        "ms_smallest",
        "small_ms_pct",
        "pareto_ms",
        "off_pareto_ms",
        "gmacs_range",
        "gmacs_smallest",
        "gmacs_largest",
        "speedup",
        "small_vs_large",
        "small_vs_large_zh",
    }
)
Point = tuple[float, int]


def label(point: Point) -> str:
    return f"{point[0]:g}-{point[1]}"


def measure(quick: bool, threads: int) -> tuple[dict[Point, float], dict[Point, float]]:
    """Best and median time (ms) of each grid point, over rounds that visit every model in turn.

    The best call is the one least disturbed by other processes on a shared machine, and the one
    the plots use; many short rounds give each model more chances to meet a quiet moment. The
    median says how much the machine's other work got in the way.
    """
    rounds, seconds, least, warmup = (1, 0.0, 1, 1) if quick else (8, 0.12, 1, 2)
    torch.manual_seed(0)
    calls = {}
    for width in WIDTHS:
        for size in SIZES:
            model = create_model(f"mobilenet_v1_{width}_{size}").eval()
            calls[(width, size)] = partial(model, torch.randn(1, 3, size, size))
    samples: dict[Point, list[float]] = {point: [] for point in calls}
    with torch_threads(threads), torch.inference_mode():
        start = time.perf_counter()
        for round_ in range(rounds):
            if round_ >= 2 and time.perf_counter() - start > BUDGET_SECONDS:
                break  # a busy machine makes every call slow: keep the page's run within its budget
            for point, call in calls.items():
                warm = warmup if round_ == 0 else 1
                samples[point] += time_calls(call, warmup=warm, min_seconds=seconds, min_calls=least)
    best = {point: 1000 * min(times) for point, times in samples.items()}
    median = {point: 1000 * statistics.median(times) for point, times in samples.items()}
    return best, median


def pareto(points: list[Point], cost: dict[Point, float]) -> list[Point]:
    """The points no other point beats on both cost and published (TF-slim) top-1, cheapest first."""
    front = [
        p
        for p in points
        if not any(cost[q] <= cost[p] and SLIM[q][0] >= SLIM[p][0] and q != p for q in points)
    ]
    return sorted(front, key=lambda p: cost[p])


def check_slim_macs(grid: dict[Point, int]) -> tuple[dict[Point, str], str, str]:
    """Where the TF-slim list's "Million MACs" differ from our count by more than rounding, and why.

    Returns:
        A note per differing point (for the table), and a sentence on them in English and Chinese.
    """
    notes: dict[Point, str] = {}
    no_stem: list[tuple[str, str]] = []  # (point, "printed = ours without the stem")
    other: list[tuple[str, str]] = []  # (point, "printed vs ours")
    for point, total in grid.items():
        printed = SLIM[point][1]
        if abs(printed - total / 1e6) < 1:  # the list rounds (or truncates) to whole millions
            continue
        report = profile("mobilenet_v1", point[1], width_mult=point[0])
        stem = report.share("standard 3x3").mult_adds
        classifier = report.share("fully connected").mult_adds
        notes[point] = f"list prints {printed}"
        if abs(printed - (total - stem) / 1e6) < 1:
            no_stem.append((label(point), f"{printed} = {(total - stem) / 1e6:.2f}"))
            continue
        # Other conventions: without the classifier, or without both.
        if not any(abs(printed - (total - cut) / 1e6) < 1 for cut in (classifier, stem + classifier)):
            other.append((label(point), f"{printed} against {total / 1e6:.2f}"))
    if not notes:
        return (
            notes,
            "Every figure it prints agrees with our count, up to rounding.",
            "它印出的每个数字都与我们的计数一致（只差舍入）。",
        )
    en = [f"At {len(notes)} of the {len(grid)} points it differs from our count by more than rounding."]
    zh = [f"在 {len(grid)} 个点中，有 {len(notes)} 个点上它与我们的计数之差超出了舍入误差。"]
    if no_stem:
        points, details = ", ".join(p for p, _ in no_stem), "; ".join(d for _, d in no_stem)
        en.append(
            f"At {points} the printed figure is our count without the first, standard convolution "
            f"({details}, in millions): the list seems to leave that layer out there, although its "
            "α = 1 figures include it."
        )
        zh.append(
            f"在 {points} 上，印出的数字正好是我们的计数减去第一个标准卷积"
            f"（{'；'.join(d for _, d in no_stem)}，单位百万）："
            "列表在这里似乎漏掉了这一层，而它在 α = 1 的数字里是算进去的。"
        )
    if other:
        points, details = ", ".join(p for p, _ in other), "; ".join(d for _, d in other)
        en.append(
            f"At {points} ({details}) no convention we tried, with or without the first "
            "convolution or the classifier, gives the printed figure: it looks like a misprint."
        )
        zh.append(
            f"在 {points} 上（{'；'.join(d.replace(' against ', ' 对 ') for _, d in other)}），"
            "无论是否计入第一个卷积或分类器，我们都得不到印出的数字：看起来是印刷错误。"
        )
    return notes, " ".join(en), "".join(zh)


def log_ticks(axis: Axis, values: list[float]) -> None:
    """Plain 1-2-3-5 tick labels on a log axis (matplotlib writes 4×10¹ style labels otherwise)."""
    low, high = min(values), max(values)
    ticks = [m * 10**e for e in range(-3, 5) for m in (1, 2, 3, 5) if low / 1.3 <= m * 10**e <= high * 1.3]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def figure_scaling(grid: dict[Point, int], params: dict[float, int]) -> Figure:
    figure = Figure(figsize=(10, 4), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    alphas = [w for w in WIDTHS]
    top = grid[(1.0, BASE)]
    dense = [0.2 + 0.01 * i for i in range(81)]  # 0.2 to 1.0, for smooth curves
    left.plot(dense, [a * a for a in dense], "-", color="#1f77b4", label="α²")
    left.plot(dense, dense, ":", color="grey", label="α")
    left.plot(alphas, [grid[(a, BASE)] / top for a in alphas], "o", color="black", label="Mult-Adds, counted")
    left.plot(
        alphas,
        [params[a] / params[1.0] for a in alphas],
        "s",
        mfc="none",
        color="#d62728",
        label="parameters, counted",
    )
    left.set_xlabel("width multiplier α (at 224 px)")
    left.set_ylabel("fraction of 1.0 MobileNet-224")
    rhos = [size / BASE for size in SIZES]
    dense = [0.5 + 0.01 * i for i in range(51)]
    right.plot(dense, [r * r for r in dense], "-", color="#1f77b4", label="ρ²")
    right.plot(rhos, [grid[(1.0, s)] / top for s in SIZES], "o", color="black", label="Mult-Adds, counted")
    right.plot(rhos, [1.0 for _ in rhos], "s", mfc="none", color="#d62728", label="parameters, counted")
    right.set_xlabel("resolution multiplier ρ (at α = 1)")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.spines[["top", "right"]].set_visible(False)
    figure.suptitle("MobileNetV1: how Mult-Adds and parameters scale with α and ρ")
    return figure


def figure_tradeoff(grid: dict[Point, int], ms: dict[Point, float], stamp: str) -> Figure:
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    panels = figure.subplots(1, 2, sharey=True)
    colours = dict(zip(WIDTHS, ("#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"), strict=True))
    costs = (
        (panels[0], ms, "measured latency (ms)"),
        (panels[1], {p: v / 1e6 for p, v in grid.items()}, "Mult-Adds (millions, counted)"),
    )
    for ax, cost, xlabel in costs:
        for width in WIDTHS:
            points = [(width, size) for size in SIZES]
            ax.plot(
                [cost[p] for p in points],
                [SLIM[p][0] for p in points],
                "o-",
                color=colours[width],
                label=f"α = {width:g}, 224 → 128 px",
            )
            for p in points:
                ax.annotate(
                    str(p[1]),
                    (cost[p], SLIM[p][0]),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize=7,
                    color=colours[width],
                )
        paper = list(PAPER_TOP1)
        ax.plot(
            [cost[p] for p in paper],
            [PAPER_TOP1[p] for p in paper],
            "s",
            mfc="none",
            color="black",
            ms=8,
            label="V1 paper, Tables 6-7",
        )
        ax.set_xscale("log")
        log_ticks(ax.xaxis, list(cost.values()))
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    panels[0].set_ylabel("ImageNet top-1 (%), published")
    panels[1].legend(loc="lower right", fontsize=8)
    panels[0].set_title(f"accuracy against measured time\n{stamp}", fontsize=10)
    panels[1].set_title("accuracy against Mult-Adds", fontsize=10)
    return figure


def make(out: Output) -> dict[str, str]:
    counts = mult_adds_grid(WIDTHS, SIZES)
    grid = {(w, s): counts[i][j] for i, w in enumerate(WIDTHS) for j, s in enumerate(SIZES)}
    params = {w: profile("mobilenet_v1", BASE, width_mult=w).model_params for w in WIDTHS}
    full = profile("mobilenet_v1", BASE)
    # M(α, ρ) = ρ²·(P·α² + S·α) + F·α: pointwise layers are quadratic in α, the stem and the
    # depthwise layers linear (fixed 3 input channels; one filter per channel), the classifier
    # linear in α and free of ρ (it sees the pooled 1 × 1 map).
    pointwise = full.share("pointwise 1x1").mult_adds
    classifier = full.share("fully connected").mult_adds
    linear = full.total_mult_adds - pointwise - classifier
    fractions = {w: Fraction(str(w)) for w in WIDTHS}

    def predicted(point: Point) -> Fraction:
        a, rho = fractions[point[0]], Fraction(point[1], BASE)
        return rho * rho * (pointwise * a * a + linear * a) + classifier * a

    exact = sum(predicted(p) == grid[p] for p in grid)
    top = grid[(1.0, BASE)]
    out.save(figure_scaling(grid, params), "width_resolution_scaling")
    plot_width_resolution_grid(out.save_path("width_resolution_grid"), WIDTHS, SIZES)

    threads = QUICK_THREADS if out.quick else THREADS
    ms, median_ms = measure(out.quick, threads)
    cpu = estimate_cpu_peak(threads=threads)
    stamp = (
        f"{cpu.cpu_name}, eager PyTorch, batch 1, {threads} thread(s), {datetime.date.today().isoformat()}"
    )
    out.save(figure_tradeoff(grid, ms, stamp), "width_resolution_tradeoff")

    alpha_rows = [
        [
            f"{w:g}",
            f"{w * w:.4f}",
            f"{grid[(w, BASE)] / top:.4f}",
            count(params[w]),
            f"{params[w] / params[1.0]:.4f}",
        ]
        for w in WIDTHS
    ]
    rho_rows = [
        [str(s), f"{s / BASE:.4f}", f"{(s / BASE) ** 2:.4f}", f"{grid[(1.0, s)] / top:.4f}"] for s in SIZES
    ]
    grid_rows = [[f"α = {w:g}"] + [count(grid[(w, s)]) for s in SIZES] for w in WIDTHS]

    notes, slim_note, slim_note_zh = check_slim_macs(grid)
    accuracy_rows = []
    for point in grid:
        top1 = SLIM[point][0]
        paper = PAPER_TOP1.get(point)
        note = notes.get(point, "")
        accuracy_rows.append(
            [
                f"{point[0]:g}",
                str(point[1]),
                millions(grid[point], 1),
                f"{params[point[0]] / 1e6:.2f}",
                "–" if paper is None else f"{paper:.1f}",
                f"{top1:.1f}",
                note,
            ]
        )
    diffs = [abs(SLIM[p][0] - PAPER_TOP1[p]) for p in PAPER_TOP1]

    latency_rows = []
    for point in grid:
        latency_rows.append(
            [
                f"{point[0]:g}",
                str(point[1]),
                millions(grid[point], 1),
                f"{ms[point]:.2f}",
                f"{median_ms[point]:.2f}",
                f"{grid[point] / ms[point] / 1e6:.1f}",
                f"{100 * grid[point] / top:.1f}%",
                f"{100 * ms[point] / ms[(1.0, BASE)]:.1f}%",
            ]
        )
    speeds = [grid[p] / ms[p] / 1e6 for p in grid]
    smallest, largest = (0.25, 128), (1.0, BASE)
    points = list(grid)
    front_macs = pareto(points, {p: float(v) for p, v in grid.items()})
    front_ms = pareto(points, ms)
    gmacs_small, gmacs_large = grid[smallest] / ms[smallest] / 1e6, grid[largest] / ms[largest] / 1e6
    if gmacs_small < gmacs_large:
        small_vs_large = (
            "used the CPU less well than the largest: its time fell less than its Mult-Adds. Thin "
            "layers on small maps give each call less work to spread over the vector units and "
            "threads, while each layer's fixed cost per call stays.",
            "对 CPU 的利用不如最大的模型：它的时间降得比乘加少。通道少、特征图小的层每次调用能分给向量单元"
            "和线程的工作更少，而每层每次调用的固定开销不变。",
        )
    else:
        small_vs_large = (
            "used the CPU at least as well as the largest: its time fell as much as its Mult-Adds, or more.",
            "对 CPU 的利用不比最大的模型差：它的时间降幅不小于乘加的降幅。",
        )
    return {
        "threads": str(threads),
        "grid_table": markdown_table(
            ["Mult-Adds"] + [f"{s} px (ρ = {s / BASE:.3g})" for s in SIZES], grid_rows
        ),
        "alpha_table": markdown_table(
            ["α", "α²", "Mult-Adds ratio", "parameters", "parameters ratio"], alpha_rows
        ),
        "rho_table": markdown_table(["input (px)", "ρ", "ρ²", "Mult-Adds ratio"], rho_rows),
        "accuracy_table": markdown_table(
            [
                "α",
                "input (px)",
                "Mult-Adds (M, ours)",
                "parameters (M, ours)",
                "top-1 %, V1 paper",
                "top-1 %, TF-slim list",
                "note",
            ],
            accuracy_rows,
        ),
        "latency_table": markdown_table(
            [
                "α",
                "input (px)",
                "Mult-Adds (M)",
                "best ms",
                "median ms",
                "GMAC/s",
                "Mult-Adds vs 1.0-224",
                "time vs 1.0-224",
            ],
            latency_rows,
        ),
        "pointwise": count(pointwise),
        "linear": count(linear),
        "classifier": count(classifier),
        "points": str(len(grid)),
        "grid_exact": str(exact),
        "m_full": count(top),
        "m_075_224": count(grid[(0.75, BASE)]),
        "m_025_128": count(grid[smallest]),
        "alpha2_025": f"{0.25**2:.4f}",
        "pointwise_pct": f"{100 * pointwise / top:.1f}",
        "classifier_params_pct": f"{100 * full.share('fully connected').params / params[1.0]:.0f}",
        "alpha_ratio_025": f"{grid[(0.25, BASE)] / top:.4f}",
        "params_ratio_025": f"{params[0.25] / params[1.0]:.4f}",
        "classifier_params": count(full.share("fully connected").params),
        "params_full": count(params[1.0]),
        "params_025": count(params[0.25]),
        "rho_ratio_128": f"{grid[(1.0, 128)] / top:.4f}",
        "rho2_128": f"{(128 / BASE) ** 2:.4f}",
        "small_macs_pct": f"{100 * grid[smallest] / top:.1f}",
        "slim_note": slim_note,
        "slim_note_zh": slim_note_zh,
        "top1_max_diff": f"{max(diffs):.1f}",
        "paper_points": str(len(PAPER_TOP1)),
        "pareto_macs": ", ".join(label(p) for p in front_macs),
        "pareto_ms": ", ".join(label(p) for p in front_ms),
        "off_pareto_macs": ", ".join(label(p) for p in points if p not in front_macs) or "–",
        "off_pareto_ms": ", ".join(label(p) for p in points if p not in front_ms) or "–",
        "gmacs_smallest": f"{gmacs_small:.1f}",
        "gmacs_largest": f"{gmacs_large:.1f}",
        "small_vs_large": small_vs_large[0],
        "small_vs_large_zh": small_vs_large[1],
        "paper_075": f"{V1_TABLE6.costs[1].mult_adds:g}",
        "ms_largest": f"{ms[largest]:.2f}",
        "ms_smallest": f"{ms[smallest]:.2f}",
        "small_ms_pct": f"{100 * ms[smallest] / ms[largest]:.1f}",
        "speedup": f"{ms[largest] / ms[smallest]:.1f}",
        "macs_factor": f"{top / grid[smallest]:.1f}",
        "gmacs_range": f"{min(speeds):.1f}–{max(speeds):.1f}",
    }
