"""V4: the four instances of the Universal Inverted Bottleneck, drawn from the specs, and their cost."""

from __future__ import annotations

from collections import Counter

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch

from compute.common import Output, count, markdown_table, percent, ratio
from mobilenets.cost.profiler import profile
from mobilenets.cost.reproduce import compare_with_paper
from mobilenets.models.specs.rows import ArchSpec, ConvRow, FusedIBRow, MQARow, UIBRow
from mobilenets.models.specs.v4 import (
    MOBILENET_V4_CONV_LARGE,
    MOBILENET_V4_CONV_MEDIUM,
    MOBILENET_V4_CONV_SMALL,
    MOBILENET_V4_HYBRID_LARGE,
    MOBILENET_V4_HYBRID_MEDIUM,
)
from mobilenets.models.uib import UniversalInvertedBottleneck

PAGE = "v4"
MEASURED: frozenset[str] = frozenset()  # every number on this page is a count
KEY_NUMBERS = ("conv_s_mult_adds", "extradw_vs_ib")  # the browser test finds these in both languages

SPECS: dict[str, ArchSpec] = {
    "Conv-S": MOBILENET_V4_CONV_SMALL,
    "Conv-M": MOBILENET_V4_CONV_MEDIUM,
    "Conv-L": MOBILENET_V4_CONV_LARGE,
    "Hybrid-M": MOBILENET_V4_HYBRID_MEDIUM,
    "Hybrid-L": MOBILENET_V4_HYBRID_LARGE,
}
INSTANCES = ("IB", "ConvNext", "ExtraDW", "FFN")
INSTANCE_NAMES = {
    "IB": "Inverted Bottleneck",
    "ConvNext": "ConvNext-like",
    "ExtraDW": "ExtraDW",
    "FFN": "FFN",
}
# The common block the costs are compared on: 160 channels in and out, expanded 4x, on a 16x16
# map (Conv-M's third stage at its 256 px input), every depthwise conv 3x3.
WIDTH, EXPANDED, SIDE, KERNEL = 160, 640, 16, 3


def row_kind(row: object) -> str:
    if isinstance(row, UIBRow):
        return row.instance
    return {ConvRow: "Conv2D", FusedIBRow: "FusedIB", MQARow: "Mobile MQA"}[type(row)]


def rows_with_inputs(spec: ArchSpec) -> list[tuple[int, object, int]]:
    """(block index, row, input width) for every row of a V4 table, widths at multiplier 1.0."""
    width, result = spec.stem_channels, []
    for index, row in enumerate(spec.blocks):
        result.append((index, row, width))
        width = row.out  # type: ignore[attr-defined]
    return result


def example_rows() -> dict[str, tuple[str, int, UIBRow, int]]:
    """For each instance, the first stride-1 row of it in Conv-S, else Conv-M: (model, index, row, input)."""
    found: dict[str, tuple[str, int, UIBRow, int]] = {}
    for label in ("Conv-S", "Conv-M"):
        for index, row, width in rows_with_inputs(SPECS[label]):
            if isinstance(row, UIBRow) and row.stride == 1 and row.instance not in found:
                found[row.instance] = (label, index, row, width)
    return found


def draw_uib(axis: Axes, row: UIBRow, in_width: int, title: str) -> None:
    """One UIB, top to bottom, from the row's fields; box widths follow the channel counts."""
    widest = max(in_width, row.expanded, row.out)
    layers: list[tuple[str, int, bool]] = [  # label, channels, present
        (
            f"start DW {row.start_dw}×{row.start_dw}, BN" if row.start_dw else "no start DW",
            in_width,
            bool(row.start_dw),
        ),
        (f"1×1 expand {in_width}→{row.expanded}, BN, act", row.expanded, True),
        (
            f"mid DW {row.mid_dw}×{row.mid_dw}, BN, act" if row.mid_dw else "no mid DW",
            row.expanded,
            bool(row.mid_dw),
        ),
        (f"1×1 project {row.expanded}→{row.out}, BN", row.out, True),
    ]
    axis.set_xlim(-1, 1)
    axis.set_ylim(-0.5, len(layers) + 1.2)
    axis.axis("off")
    axis.text(0, len(layers) + 0.75, f"input, {in_width} ch", ha="center", va="center", fontsize=8)
    for depth, (label, channels, present) in enumerate(layers):
        y = len(layers) - depth - 0.5
        half = 0.36 + 0.54 * channels / widest
        color = ("tab:orange" if "DW" in label else "tab:blue") if present else "white"
        box = FancyBboxPatch(
            (-half, y - 0.3), 2 * half, 0.6, boxstyle="round,pad=0.02", facecolor=color,
            edgecolor="black" if present else "grey", linestyle="-" if present else "--",
        )  # fmt: skip
        axis.add_patch(box)
        axis.text(0, y, label, ha="center", va="center", fontsize=7.5, color="black" if present else "grey")
        axis.annotate("", (0, y + 0.32), (0, y + 0.68), arrowprops={"arrowstyle": "->", "color": "black"})
    skip = row.stride == 1 and in_width == row.out
    axis.text(
        0,
        -0.3,
        f"+ input (residual), {row.out} ch" if skip else f"output, {row.out} ch",
        ha="center",
        fontsize=8,
    )
    axis.set_title(title, fontsize=9)


def diagrams_figure(out: Output, examples: dict[str, tuple[str, int, UIBRow, int]]) -> None:
    fig, axes = plt.subplots(1, 4, figsize=(13, 4.6))
    for axis, instance in zip(axes, INSTANCES, strict=True):
        label, index, row, width = examples[instance]
        title = (
            f"{INSTANCE_NAMES[instance]}\n{label} block {index}: start_dw={row.start_dw}, "
            f"mid_dw={row.mid_dw},\nexpanded={row.expanded}, out={row.out}"
        )
        draw_uib(axis, row, width, title)
    fig.suptitle("The four UIB instances, drawn from rows of mobilenets.models.specs.v4", fontsize=10)
    fig.tight_layout()
    out.save(fig, "v4_uib_instances")


def instance_block(instance: str) -> UniversalInvertedBottleneck:
    """The instance as a block of the common size (WIDTH in and out, EXPANDED, KERNEL depthwise)."""
    start = KERNEL if instance in ("ConvNext", "ExtraDW") else 0
    mid = KERNEL if instance in ("IB", "ExtraDW") else 0
    return UniversalInvertedBottleneck(WIDTH, WIDTH, EXPANDED, start_dw_kernel=start, mid_dw_kernel=mid)


def cost_rows() -> tuple[list[list[str]], dict[str, int]]:
    rows, totals = [], {}
    for instance in INSTANCES:
        report = profile(instance_block(instance), (WIDTH, SIDE, SIDE))
        totals[instance] = report.total_mult_adds
        depthwise = sum(layer.mult_adds for layer in report.layers if layer.kind.startswith("depthwise"))
        rows.append(
            [
                INSTANCE_NAMES[instance],
                "yes" if instance in ("ConvNext", "ExtraDW") else "–",
                "yes" if instance in ("IB", "ExtraDW") else "–",
                count(report.total_mult_adds),
                f"{count(depthwise)} ({percent(depthwise / report.total_mult_adds, 1)}%)",
                count(report.total_params),
            ]
        )
    ib = totals["IB"]
    for row, instance in zip(rows, INSTANCES, strict=True):
        row.append(ratio(totals[instance] / ib, 3))
    return rows, totals


def usage_table() -> tuple[str, dict[str, Counter[str]]]:
    kinds = ("Conv2D", "FusedIB", *INSTANCES, "Mobile MQA")
    counts = {label: Counter(row_kind(row) for row in spec.blocks) for label, spec in SPECS.items()}
    rows = [
        [label, *[str(counts[label][kind]) for kind in kinds], str(len(SPECS[label].blocks))]
        for label in SPECS
    ]
    return markdown_table(["model", *kinds, "all rows"], rows), counts


def paper_table() -> tuple[str, str, dict[str, int]]:
    """V4 Table 6 against our counts, printed the way the paper prints (one decimal)."""
    (comparison,) = compare_with_paper("v4")
    by_label: dict[str, dict[str, object]] = {}
    for item in comparison.rows:
        by_label.setdefault(item.label, {})[item.quantity] = item
    rows, exact = [], {}
    for label, quantities in by_label.items():
        macs, params = quantities["Mult-Adds (G)"], quantities["params (M)"]
        attention = quantities.get("attention matmul (G)")
        exact[label] = macs.exact  # type: ignore[attr-defined]
        rows.append(
            [
                label,
                comparison.printed(macs.paper),  # type: ignore[attr-defined]
                f"{macs.ours:.3f} ({count(macs.exact)})",  # type: ignore[attr-defined]
                f"{percent(macs.ours / macs.paper - 1, 0)}%",  # type: ignore[attr-defined]
                comparison.printed(params.paper),  # type: ignore[attr-defined]
                f"{params.ours:.2f}",  # type: ignore[attr-defined]
                f"{percent(params.ours / params.paper - 1, 0)}%",  # type: ignore[attr-defined]
                "–" if attention is None else count(attention.exact),  # type: ignore[attr-defined]
            ]
        )
    table = markdown_table(
        [
            "model (input)",
            "paper MACs (G)",
            "ours (G, exact)",
            "Δ",
            "paper params (M)",
            "ours (M)",
            "Δ",
            "attention matmuls (not in total)",
        ],
        rows,
    )
    quoted = markdown_table(
        ["model (input)", "top-1 (%)", *[f"{device} (ms)" for device in comparison.latency_devices]],
        [
            [row.label, "–" if row.top1 is None else f"{row.top1:g}", *[f"{ms:g}" for ms in row.latency_ms]]
            for row in comparison.quoted
        ],
    )
    return table, quoted, exact


def make(out: Output) -> dict[str, str]:
    examples = example_rows()
    diagrams_figure(out, examples)
    rows, totals = cost_rows()
    usage, counts = usage_table()
    table, quoted, exact = paper_table()
    numbers = {
        "cost_table": markdown_table(
            ["instance", "start DW", "mid DW", "Mult-Adds", "of which depthwise", "params", "× IB"], rows
        ),
        "usage_table": usage,
        "paper_table": table,
        "quoted_table": quoted,
        "width": str(WIDTH),
        "expanded": str(EXPANDED),
        "side": str(SIDE),
        "kernel": str(KERNEL),
        "extradw_vs_ib": count(totals["ExtraDW"] - totals["IB"]),
        "extradw_ratio": ratio(totals["ExtraDW"] / totals["IB"], 3),
        "ffn_vs_ib": count(totals["IB"] - totals["FFN"]),
        "convnext_vs_ib": count(totals["IB"] - totals["ConvNext"]),
        "ib_mult_adds": count(totals["IB"]),
        "conv_s_mult_adds": count(exact["MNv4-Conv-S (224)"]),
        "conv_m_mult_adds": count(exact["MNv4-Conv-M (256)"]),
    }
    for label in ("Conv-S", "Conv-M"):
        key = label.lower().replace("-", "_")
        uib = sum(counts[label][instance] for instance in INSTANCES)
        numbers[f"{key}_uib"] = str(uib)
        for instance in INSTANCES:
            numbers[f"{key}_{instance.lower()}"] = str(counts[label][instance])
    for instance, (label, index, row, width) in examples.items():
        numbers[f"example_{instance.lower()}"] = (
            f"{label} block {index} (`UIBRow(start_dw={row.start_dw}, mid_dw={row.mid_dw}, "
            f"expanded={row.expanded}, out={row.out})`, {width} channels in)"
        )
    return numbers
