"""The papers' published cost figures, as data, each citing its table.

These are what ``mobilenets profile --paper`` prints next to the figures counted from our
models. Mult-Adds and parameters are in the units the paper prints (millions, or for V4
billions of Mult-Adds); shares in percent.

- V1: Howard et al. 2017, arXiv:1704.04861, Tables 2, 4, 6 and 7.
- V2: Sandler et al. 2018, arXiv:1801.04381, Table 4 (the headline ImageNet model).
- V3: Howard et al. 2019, arXiv:1905.02244, Table 3.
- V4: Qin et al. 2024, arXiv:2404.10518v2, Table 6, with its top-1 and two of its latency
  columns, which we can only quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Paper = Literal["v1", "v2", "v3", "v4"]
PAPERS: tuple[Paper, ...] = ("v1", "v2", "v3", "v4")


@dataclass(frozen=True)
class PublishedCost:
    """One network's row: our model name and the paper's Mult-Adds and parameters.

    Args:
        label: the row as the paper names it.
        model: the name ``create_model`` builds the same network from (at the paper's input).
        mult_adds: Mult-Adds as printed, in the table's ``mult_adds_unit``.
        params: millions of parameters, as printed.
        top1: the paper's ImageNet top-1 accuracy in percent, where the table has one; quoted,
            never recomputed.
        latency_ms: the paper's latencies in milliseconds, one per device of the table's
            ``latency_devices``; quoted, never recomputed.
    """

    label: str
    model: str
    mult_adds: float
    params: float
    top1: float | None = None
    latency_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class PublishedShare:
    """One row of a breakdown by layer type, in percent of the network's total.

    Args:
        label: the paper's layer type.
        kind: the profiler's kind for the same layers.
        mult_adds_pct: share of Mult-Adds, as printed.
        params_pct: share of parameters, as printed.
        note: anything wrong with the printed figures.
    """

    label: str
    kind: str
    mult_adds_pct: float
    params_pct: float
    note: str = ""


@dataclass(frozen=True)
class PaperTable:
    """A published table: either costs of whole networks or shares of one network.

    Args:
        title: short name, e.g. 'V1 Table 6: width multiplier'.
        source: the paper and table.
        model: for share tables, the network the shares are of.
        costs: whole-network rows.
        shares: breakdown rows.
        notes: remarks that apply to the whole table.
        mult_adds_unit: 'M' (millions, V1-V3) or 'G' (billions, the V4 paper's "MACs" column).
        latency_devices: the devices of the rows' ``latency_ms``, as the paper heads its columns.
        printed_decimals: the decimals every figure of the table is printed with (V4: one,
            '1.0G', '31.0M'), to quote them as printed; None prints each figure as short as it is.
    """

    title: str
    source: str
    model: str = ""
    costs: tuple[PublishedCost, ...] = ()
    shares: tuple[PublishedShare, ...] = ()
    notes: tuple[str, ...] = ()
    mult_adds_unit: Literal["M", "G"] = "M"
    latency_devices: tuple[str, ...] = ()
    printed_decimals: int | None = None


V1 = "MobileNetV1, arXiv:1704.04861"

# Table 2's standard 3x3 share is a misprint (1.19 for 1.91); the notes give the arithmetic.
V1_TABLE2 = PaperTable(
    title="V1 Table 2: resources per layer type",
    source=f"{V1}, Table 2",
    model="mobilenet_v1",
    shares=(
        PublishedShare("Conv 1x1", "pointwise 1x1", 94.86, 74.59),
        PublishedShare("Conv DW 3x3", "depthwise 3x3", 3.06, 1.06),
        PublishedShare(
            "Conv 3x3",
            "standard 3x3",
            1.19,
            0.02,
            note="misprint: digits transposed, the exact share is 1.91%",
        ),
        PublishedShare("Fully Connected", "fully connected", 0.18, 24.33),
    ),
    notes=(
        "The paper prints 1.19% for the standard 3x3 convolution, but its 10,838,016 Mult-Adds "
        "are 1.91% of the total, and only 1.91 makes the column add up to 100% (1.19 gives 99.29).",
        "The paper's parameter shares count weights only; ours include the classifier's 1,000 "
        "biases, which moves 0.02 points from 1x1 to the fully connected row.",
    ),
)

V1_TABLE4 = PaperTable(
    title="V1 Table 4: depthwise separable vs full convolution",
    source=f"{V1}, Table 4",
    costs=(
        PublishedCost("Conv MobileNet", "mobilenet_v1_conv", 4866, 29.3),
        PublishedCost("MobileNet", "mobilenet_v1", 569, 4.2),
    ),
    notes=("Conv MobileNet replaces each depthwise separable block by one standard 3x3 convolution.",),
)

V1_TABLE6 = PaperTable(
    title="V1 Table 6: width multiplier α",
    source=f"{V1}, Table 6",
    costs=(
        PublishedCost("1.0 MobileNet-224", "mobilenet_v1", 569, 4.2),
        PublishedCost("0.75 MobileNet-224", "mobilenet_v1_0.75", 325, 2.6),
        PublishedCost("0.5 MobileNet-224", "mobilenet_v1_0.5", 149, 1.3),
        PublishedCost("0.25 MobileNet-224", "mobilenet_v1_0.25", 41, 0.5),
    ),
)

V1_TABLE7 = PaperTable(
    title="V1 Table 7: resolution multiplier ρ",
    source=f"{V1}, Table 7",
    costs=(
        PublishedCost("1.0 MobileNet-224", "mobilenet_v1", 569, 4.2),
        PublishedCost("1.0 MobileNet-192", "mobilenet_v1_192", 418, 4.2),
        PublishedCost("1.0 MobileNet-160", "mobilenet_v1_160", 290, 4.2),
        PublishedCost("1.0 MobileNet-128", "mobilenet_v1_128", 186, 4.2),
    ),
    notes=("The paper prints 290 for 290.68 M: truncated, where its other rows are rounded.",),
)

V2_HEADLINE = PaperTable(
    title="V2 Table 4: the headline model",
    source="MobileNetV2, arXiv:1801.04381, Table 4",
    costs=(PublishedCost("MobileNetV2", "mobilenet_v2", 300, 3.4),),
    notes=(
        "Our 3,504,872 parameters are those of the torchvision and Keras implementations of "
        "the same network; the paper prints 3.4 M.",
    ),
)

V3_TABLE3 = PaperTable(
    title="V3 Table 3: Large and Small at α 1.0 and 0.75",
    source="MobileNetV3, arXiv:1905.02244, Table 3",
    costs=(
        PublishedCost("V3-Large 1.0", "mobilenet_v3_large", 219, 5.4),
        PublishedCost("V3-Large 0.75", "mobilenet_v3_large_0.75", 155, 4.0),
        PublishedCost("V3-Small 1.0", "mobilenet_v3_small", 56, 2.5),
        PublishedCost("V3-Small 0.75", "mobilenet_v3_small_0.75", 44, 2.0),
    ),
    notes=(
        "Counted with the conv + linear convention; `mobilenets profile NAME --elementwise` adds "
        "the SE scaling, residual additions and hard-swish.",
    ),
)

# V4 prints MACs in billions with one decimal, parameters in millions, the top-1 of regular
# ImageNet-1k training, and latencies measured on seven devices; we quote two of them (the
# int8 TFLite CPU and EdgeTPU columns). Its rows are in the paper's order: Conv-M comes before
# Hybrid-M, then Conv-L and Hybrid-L. Each model name builds at the paper's input (224, 256, 384).
V4_TABLE6 = PaperTable(
    title="V4 Table 6: ImageNet-1k classification",
    source="MobileNetV4, arXiv:2404.10518v2, Table 6",
    costs=(
        PublishedCost("MNv4-Conv-S (224)", "mobilenet_v4_conv_small", 0.2, 3.8, 73.8, (2.4, 0.7)),
        PublishedCost("MNv4-Conv-M (256)", "mobilenet_v4_conv_medium", 1.0, 9.2, 79.9, (11.4, 1.1)),
        PublishedCost("MNv4-Hybrid-M (256)", "mobilenet_v4_hybrid_medium", 1.2, 10.5, 80.7, (14.3, 1.5)),
        PublishedCost("MNv4-Conv-L (384)", "mobilenet_v4_conv_large", 5.9, 31.0, 82.9, (59.9, 2.4)),
        PublishedCost("MNv4-Hybrid-L (384)", "mobilenet_v4_hybrid_large", 7.2, 35.9, 83.4, (87.6, 3.8)),
    ),
    mult_adds_unit="G",
    latency_devices=("Pixel 6 CPU", "Pixel 8 EdgeTPU"),
    printed_decimals=1,
    notes=(
        "Ours are the released networks (timm's mobilenetv4_*, the same blocks as the TF Model "
        "Garden code), the only ones with trained weights.",
        "Parameters: Conv-S matches, but the M and L models count 5-6% more than the paper "
        "prints. No counting convention gives all five published figures: without the "
        "classifier Conv-S would be 2.5 M (1.3 M without the 1280-wide head as well) instead of "
        "its matching 3.8 M, and Conv-M still 8% off the other way; BatchNorm is under 1% of "
        "any model. Nor is it rounding: every expanded width is a multiple of 8 already and "
        "equals the paper's appendix tables. The published figures most likely describe "
        "slightly different instantiations (the paper's own UIB ablation quotes a Conv-L-like "
        "model at 33.0 M and 6.2 G).",
        "Mult-Adds are conv + linear, as for V1-V3. The hybrids' Q·Kᵀ and attention·V are a "
        "row of their own; the paper does not say whether its MACs include them. Printed with "
        "one decimal, Conv-S's 0.186 G is the paper's 0.2; the M and L models count more, as "
        "their parameters do.",
        "Top-1 (regular training, no distillation) and latencies (ms; int8 TFLite) are the "
        "paper's, quoted as published: they are measurements we cannot recompute.",
    ),
)

PAPER_TABLES: dict[Paper, tuple[PaperTable, ...]] = {
    "v1": (V1_TABLE2, V1_TABLE4, V1_TABLE6, V1_TABLE7),
    "v2": (V2_HEADLINE,),
    "v3": (V3_TABLE3,),
    "v4": (V4_TABLE6,),
}

# The α x ρ grid that Tables 6 and 7 sample along one row and one column.
V1_GRID_WIDTHS = (1.0, 0.75, 0.5, 0.25)
V1_GRID_RESOLUTIONS = (224, 192, 160, 128)
