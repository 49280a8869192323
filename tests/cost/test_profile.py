"""The cost profiler: the papers' figures, closed-form cross-checks, a third-party counter.

Every expected figure here is either printed in a paper or computed in this file from the
closed-form cost of each block (V1 Section 3.1), never taken from the profiler's own output.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mobilenets import create_model, list_models, make_divisible, profile
from mobilenets.cost.paper_tables import (
    V1_TABLE2,
    V1_TABLE4,
    V1_TABLE6,
    V1_TABLE7,
    V2_HEADLINE,
    V3_TABLE3,
    PublishedCost,
)
from mobilenets.cost.profiler import conv_kind
from mobilenets.cost.report import KIND_ATTENTION
from mobilenets.models.layers import InvertedResidual
from mobilenets.models.mobile_mqa import MobileMQA
from mobilenets.models.registry import parse_model_name
from mobilenets.models.specs import ARCHITECTURES, ArchSpec, ConvRow, FusedIBRow, MQARow, full_convolution
from mobilenets.models.uib import UniversalInvertedBottleneck
from mobilenets.weights.catalog import published_models

# -- closed-form costs, from the specs alone -----------------------------------------------


def closed_form(name: str, size: int = 224, classes: int = 1000) -> tuple[int, int]:
    """(Mult-Adds, conv + linear parameters) of a named model, summed block by block.

    A k x k convolution from c_in to c_out (groups g) on a D x D output costs D^2 k^2 c_in/g c_out
    Mult-Adds and k^2 c_in/g c_out weights; 'same' padding makes D = ceil(D_in / stride).
    """
    base, implied = parse_model_name(name)
    spec = ARCHITECTURES[base]
    alpha = implied.get("width_mult", 1.0)
    if spec.family == "v4":
        return closed_form_v4(spec, alpha, size, classes)[:2]

    def width(channels: float) -> int:  # V1: TF-slim truncation, floor 8; V2/V3: round to 8
        return max(int(channels * alpha), 8) if spec.family == "v1" else make_divisible(channels * alpha)

    def conv(d: int, k: int, c_in: int, c_out: int, groups: int = 1) -> tuple[int, int]:
        weights = k * k * c_in // groups * c_out
        return d * d * weights, weights

    d = math.ceil(size / 2)
    c = width(spec.stem_channels)
    madds, params = conv(d, 3, 3, c)
    paper_c = spec.stem_channels
    for row in spec.blocks:
        c_out = width(row.out)
        for repeat in range(row.repeats):
            d_in, d = d, math.ceil(d / (row.stride if repeat == 0 else 1))
            if row.expand is None and not spec.separable:  # Conv MobileNet: one full 3x3
                parts = [conv(d, row.kernel, c, c_out)]
            elif row.expand is None:  # depthwise k x k, then pointwise 1 x 1
                parts = [conv(d, row.kernel, c, c, groups=c), conv(d, 1, c, c_out)]
            else:
                ratio = row.expand if spec.family == "v2" else row.expand / paper_c
                e = c if ratio == 1 else make_divisible(c * ratio)
                parts = [conv(d_in, 1, c, e)] if e != c else []
                parts += [conv(d, row.kernel, e, e, groups=e), conv(d, 1, e, c_out)]
                if row.se:  # two 1x1 convs on the pooled 1x1 map, with biases
                    s = make_divisible(e / 4)
                    parts += [(e * s, e * s + s), (s * e, s * e + e)]
            madds += sum(p[0] for p in parts)
            params += sum(p[1] for p in parts)
            c, paper_c = c_out, row.out
    if spec.final_conv_channels:
        scale = max(1.0, alpha) if spec.family == "v2" else alpha
        final = make_divisible(spec.final_conv_channels * scale)
        m, p = conv(d, 1, c, final)
        madds, params, c = madds + m, params + p, final
    if spec.head_hidden:
        madds, params, c = madds + c * spec.head_hidden, params + (c + 1) * spec.head_hidden, spec.head_hidden
    return madds + c * classes, params + (c + 1) * classes


def closed_form_v4(spec: ArchSpec, alpha: float, size: int, classes: int = 1000) -> tuple[int, int, int]:
    """(conv + linear Mult-Adds, their parameters, attention matmul Mult-Adds) of a V4 table.

    Block by block as the paper describes them: Conv2D is one k x k conv; FusedIB a k x k
    expansion and a 1x1 projection; the UIB an optional depthwise k x k on the input, a 1x1
    expansion, an optional depthwise on the expanded map (it takes the stride when present) and
    a 1x1 projection; Mobile MQA a 1x1 query per head, one 1x1 key and value (after a
    depthwise k x k stride-s downsampling of the input each, when s > 1), Q·Kᵀ and attention·V
    at heads x queries x keys x key_dim each, and a 1x1 output. The 1280 head conv has no bias.
    With anti-aliasing, strided convs in the body run at stride 1 and a pool downsamples.
    """
    anti_alias = getattr(spec, "anti_alias", None)

    def width(channels: int) -> int:
        return make_divisible(channels * alpha)

    def conv(d: int, k: int, c_in: int, c_out: int, groups: int = 1) -> tuple[int, int]:
        weights = k * k * c_in // groups * c_out
        return d * d * weights, weights

    def where(d: int, stride: int) -> int:  # the map a strided conv computes on
        return d if anti_alias else math.ceil(d / stride)

    d = math.ceil(size / 2)
    c = spec.stem_channels if alpha < 1 else width(spec.stem_channels)  # the stem never narrows
    parts = [conv(d, 3, 3, c)]
    attention = 0
    paper_c = spec.stem_channels
    for row in spec.blocks:
        c_out = width(row.out)
        d_out = math.ceil(d / row.stride)
        if isinstance(row, ConvRow):
            parts.append(conv(where(d, row.stride), row.kernel, c, c_out))
        elif isinstance(row, FusedIBRow):
            e = make_divisible(c * row.expanded / paper_c)
            parts += [conv(where(d, row.stride), row.kernel, c, e), conv(d_out, 1, e, c_out)]
        elif isinstance(row, MQARow):
            h, k = row.heads, row.key_dim
            d_kv = math.ceil(d / row.kv_stride)
            parts += [
                conv(d, 1, c, h * k),
                conv(d_kv, 1, c, k),
                conv(d_kv, 1, c, k),
                conv(d, 1, h * k, c_out),
            ]
            if row.kv_stride > 1:  # keys and values each downsampled by their own depthwise conv
                parts += 2 * [conv(d_kv, row.kv_kernel, c, c, groups=c)]
            attention += 2 * h * (d * d) * (d_kv * d_kv) * k
        else:  # UIB
            e = make_divisible(c * row.expanded / paper_c)
            d_mid = d
            if row.start_dw:
                start_stride = 1 if row.mid_dw else row.stride
                parts.append(
                    conv(where(d, start_stride) if start_stride > 1 else d, row.start_dw, c, c, groups=c)
                )
                d_mid = math.ceil(d / start_stride)
            parts.append(conv(d_mid, 1, c, e))
            if row.mid_dw:
                mid = where(d_mid, row.stride) if row.stride > 1 else d_mid
                parts.append(conv(mid, row.mid_dw, e, e, groups=e))
            parts.append(conv(d_out, 1, e, c_out))
        d, c, paper_c = d_out, c_out, row.out
    final = width(spec.final_conv_channels)
    parts.append(conv(d, 1, c, final))
    parts.append((final * spec.head_hidden, final * spec.head_hidden))  # on the pooled 1x1 map
    parts.append((spec.head_hidden * classes, (spec.head_hidden + 1) * classes))
    return sum(p[0] for p in parts), sum(p[1] for p in parts), attention


@pytest.mark.parametrize(
    "name", [*published_models(), "mobilenet_v1_conv", "mobilenet_v1_0.5_160", "mobilenet_v3_large_192"]
)
def test_closed_form_agrees_on_every_zoo_model(name: str) -> None:
    model = create_model(name)
    size = model.config.default_input_size
    report = profile(model)
    assert (report.total_mult_adds, report.total_params) == closed_form(name, size)
    assert report.model_params == sum(p.numel() for p in model.parameters())


V4_VARIANTS = [
    "mobilenet_v4_conv_small",
    "mobilenet_v4_conv_medium",
    "mobilenet_v4_conv_large",
    "mobilenet_v4_hybrid_medium",
    "mobilenet_v4_hybrid_large",
    "mobilenet_v4_conv_small_0.35",
    "mobilenet_v4_conv_small_0.5",
    "mobilenet_v4_hybrid_medium_0.75",
    "mobilenet_v4_hybrid_large_0.75",
    "mobilenet_v4_conv_medium_224",
    "mobilenet_v4_hybrid_large_1.25_257",  # odd sizes: every stride-2 map rounds up
]


@pytest.mark.parametrize("name", V4_VARIANTS)
def test_closed_form_agrees_on_v4(name: str) -> None:
    base, implied = parse_model_name(name)
    report = profile(name)
    expected = closed_form_v4(ARCHITECTURES[base], implied.get("width_mult", 1.0), report.input_size[1])
    assert (report.total_mult_adds, report.total_params, report.attention_mult_adds) == expected


# -- acceptance: the papers' figures --------------------------------------------------------


# Counted independently over timm's mobilenetv4_* modules with forward hooks (conv and linear
# layers, the convention above); Q·Kᵀ and attention·V counted apart. At the paper's inputs
# (issue 15, acceptance 2), and a few other sizes.
@pytest.mark.parametrize(
    ("name", "size", "conv_linear", "attention"),
    [
        ("mobilenet_v4_conv_small", 224, 186_005_568, 0),
        ("mobilenet_v4_conv_medium", 256, 1_080_244_224, 0),
        ("mobilenet_v4_conv_large", 384, 6_376_220_672, 0),
        ("mobilenet_v4_hybrid_medium", 256, 1_229_240_320, 41_943_040),
        ("mobilenet_v4_hybrid_large", 384, 7_372_138_496, 339_738_624),
        ("mobilenet_v4_conv_medium_224", 224, 827_649_984, 0),
        ("mobilenet_v4_hybrid_medium_224", 224, 941_725_120, 24_586_240),
        ("mobilenet_v4_hybrid_large_256", 256, 3_277_899_776, 67_108_864),
    ],
)
def test_v4_mult_adds_equal_a_count_over_timms_modules(
    name: str, size: int, conv_linear: int, attention: int
) -> None:
    report = profile(name)  # at the size the name implies: the paper's input without a suffix
    assert report.input_size == (3, size, size)
    assert report.total_mult_adds == conv_linear
    assert report.attention_mult_adds == attention
    kinds = {s.kind: s.layers for s in report.by_kind()}
    assert kinds.get(KIND_ATTENTION, 0) == (8 if attention else 0)  # one row per Mobile MQA


def test_attention_is_a_kind_of_its_own_outside_the_total() -> None:
    report = profile("mobilenet_v4_hybrid_medium")
    attention = report.share(KIND_ATTENTION)
    assert attention.mult_adds == report.attention_mult_adds and attention.params == 0
    assert report.total_mult_adds == sum(r.mult_adds for r in report.layers if r.kind != KIND_ATTENTION)
    # Shares are of all the counted work, attention included, so that they add up to 100.
    assert sum(s.mult_adds_pct for s in report.by_kind()) == pytest.approx(100)
    assert attention.mult_adds_pct == pytest.approx(100 * 41_943_040 / (1_229_240_320 + 41_943_040))
    assert report.to_dict()["totals"]["attention_mult_adds"] == 41_943_040
    assert "41.94 M in attention matmuls" in report.summary()
    assert "41,943,040 Mult-Adds of attention matmuls" in report.render(by_kind=True)
    assert profile("mobilenet_v4_conv_small").to_dict()["totals"]["attention_mult_adds"] == 0


def test_elementwise_counts_v4_residual_adds() -> None:
    uib = UniversalInvertedBottleneck(16, 16, 64, start_dw_kernel=3, mid_dw_kernel=3)
    mqa = MobileMQA(16, 16, heads=2, key_dim=8)
    for block in (uib, mqa):
        extra = (
            profile(block, (16, 8, 8), elementwise=True).total_mult_adds
            - profile(block, (16, 8, 8)).total_mult_adds
        )
        assert extra == 16 * 8 * 8, block  # one addition per output element, ReLU and BN free


@pytest.mark.parametrize(
    ("size", "expected"), [(224, 568_740_352), (192, 418_121_728), (160, 290_675_200), (128, 186_400_768)]
)
def test_v1_mult_adds_over_resolution(size: int, expected: int) -> None:
    assert profile("mobilenet_v1", size).total_mult_adds == expected
    # With no classifier, every layer's map is (size/224)^2 as large: the cost scales by ρ^2.
    body = profile("mobilenet_v1", size, num_classes=0).total_mult_adds
    assert body * 224**2 == profile("mobilenet_v1", num_classes=0).total_mult_adds * size**2


@pytest.mark.parametrize("cost", [*V1_TABLE6.costs, *V1_TABLE7.costs], ids=lambda c: c.model)
def test_v1_tables_6_7_within_a_million(cost: PublishedCost) -> None:
    assert abs(profile(cost.model).total_mult_adds / 1e6 - cost.mult_adds) <= 1.0


@pytest.mark.parametrize("cost", [*V2_HEADLINE.costs, *V3_TABLE3.costs], ids=lambda c: c.model)
def test_v2_v3_published_mult_adds_within_one_and_a_half_percent(cost: PublishedCost) -> None:
    # The V3 paper rounds its own (unpublished) counting; V3-Large comes out 1.1% under it.
    assert profile(cost.model).total_mult_adds / 1e6 == pytest.approx(cost.mult_adds, rel=0.015)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mobilenet_v2", 300_774_272),
        ("mobilenet_v3_large", 216_589_760),
        ("mobilenet_v3_small", 56_510_400),
        ("mobilenet_v3_large_0.75", 154_560_624),
        ("mobilenet_v3_small_0.75", 43_399_344),
    ],
)
def test_v2_v3_mult_adds(name: str, expected: int) -> None:
    assert profile(name).total_mult_adds == expected


def test_v1_width_scaling_is_alpha_squared_for_pointwise() -> None:
    # Halving every width quarters each 1x1 (c_in c_out) and halves each depthwise (c) layer.
    full, half = profile("mobilenet_v1").by_kind(), profile("mobilenet_v1_0.5").by_kind()
    full_ma = {s.kind: s.mult_adds for s in full}
    half_ma = {s.kind: s.mult_adds for s in half}
    assert half_ma["pointwise 1x1"] * 4 == full_ma["pointwise 1x1"]
    assert half_ma["depthwise 3x3"] * 2 == full_ma["depthwise 3x3"]


def test_v1_table2_breakdown() -> None:
    report = profile("mobilenet_v1")
    for row in V1_TABLE2.shares:
        ours = report.share(row.kind)
        if row.kind == "standard 3x3":  # the misprinted row: 1.19 in the paper, 1.91 exact
            assert row.note and "1.91" in row.note
            assert round(ours.mult_adds_pct, 2) == 1.91 and row.mult_adds_pct == 1.19
        else:
            assert abs(ours.mult_adds_pct - row.mult_adds_pct) <= 0.02, row
            assert abs(ours.params_pct - row.params_pct) <= 0.02, row
    assert sum(s.mult_adds_pct for s in report.by_kind()) == pytest.approx(100)
    assert sum(s.params_pct for s in report.by_kind()) == pytest.approx(100)


def test_full_convolution_v1_table4() -> None:
    conv_mobilenet = V1_TABLE4.costs[0]
    report = profile(conv_mobilenet.model)
    assert report.total_mult_adds / 1e6 == pytest.approx(conv_mobilenet.mult_adds, rel=0.01)
    assert report.model_params / 1e6 == pytest.approx(conv_mobilenet.params, rel=0.01)
    kinds = {s.kind: s.layers for s in report.by_kind()}
    assert kinds == {"standard 3x3": 14, "fully connected": 1}
    # The same widths as MobileNet, block for block: only the factorization differs.
    separable = create_model("mobilenet_v1")
    full = create_model("mobilenet_v1_conv")
    for block, conv in zip(separable.blocks, full.blocks, strict=True):
        assert (conv.conv.in_channels, conv.conv.out_channels) == (block.dw.conv.in_channels,
                                                                   block.pw.conv.out_channels)  # fmt: skip
    with pytest.raises(ValueError, match="no depthwise convolutions"):
        create_model("mobilenet_v1_conv", depth_multiplier=2)
    with pytest.raises(ValueError, match="needs a V1 spec"):
        full_convolution(ARCHITECTURES["mobilenet_v2"])


# -- third-party counter ------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in list_models() if n != "mobilenet_v1_conv"])
def test_torchinfo_agrees_layer_by_layer(name: str) -> None:
    torchinfo = pytest.importorskip("torchinfo")
    model = create_model(name).eval()
    size = model.config.default_input_size
    summary = torchinfo.summary(model, input_size=(1, 3, size, size), verbose=0)
    theirs: dict[int, int] = {}
    for info in summary.summary_list:
        module = info.module
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            # torchinfo also counts one addition per output for a bias; the papers do not.
            spatial = math.prod(info.output_size[2:]) if isinstance(module, nn.Conv2d) else 1
            bias = module.bias.numel() * spatial if module.bias is not None else 0
            theirs[id(module)] = info.macs - bias
    report = profile(model)
    # torchinfo counts layers with weights only: the attention matmuls are ours alone.
    layers = [row for row in report.layers if row.kind != KIND_ATTENTION]
    ours = {id(model.get_submodule(row.name)): row.mult_adds for row in layers}
    assert ours == theirs


# -- counting rules -----------------------------------------------------------------------


def test_conv_kinds() -> None:
    assert conv_kind(nn.Conv2d(8, 8, 3, groups=8)) == "depthwise 3x3"
    assert conv_kind(nn.Conv2d(8, 16, 5, groups=8)) == "depthwise 5x5"  # depth multiplier 2
    assert conv_kind(nn.Conv2d(8, 16, 1)) == "pointwise 1x1"
    assert conv_kind(nn.Conv2d(3, 16, 3)) == "standard 3x3"
    assert conv_kind(nn.Conv2d(8, 16, 1, groups=2)) == "standard 1x1"  # grouped, not depthwise
    assert conv_kind(nn.Conv2d(1, 4, 3)) == "standard 3x3"  # one input channel: not depthwise


def test_depth_multiplier_doubles_depthwise_cost() -> None:
    one = profile("mobilenet_v1", num_classes=0).share("depthwise 3x3")
    two = profile("mobilenet_v1", num_classes=0, depth_multiplier=2).share("depthwise 3x3")
    assert two.mult_adds == 2 * one.mult_adds and two.params == 2 * one.params


def test_rectangular_input_and_tf_same_padding() -> None:
    # 'SAME' padding changes where the window sits, never how many outputs there are.
    assert (
        profile("mobilenet_v2", (224, 160)).total_mult_adds
        == profile("mobilenet_v2", (224, 160), padding="tf_same").total_mult_adds
    )
    stem = profile("mobilenet_v2", (224, 160)).layers[0]
    assert stem.output_shape == (32, 112, 80) and stem.mult_adds == 112 * 80 * 27 * 32


def test_elementwise_ops_one_per_output_element() -> None:
    block = InvertedResidual(24, 24, 96, stride=1, kernel_size=3, se_channels=24, act="hardswish")
    plain = profile(block, (24, 14, 14))
    counted = profile(block, (24, 14, 14), elementwise=True)
    extra = {
        s.kind: s.mult_adds for s in counted.by_kind() if s.kind not in {k.kind for k in plain.by_kind()}
    }
    # hard-swish after expand and dw (96 x 14 x 14 each), SE scaling of 96 x 14 x 14, one add of 24 x 14 x 14.
    assert extra == {"hard-swish": 2 * 96 * 196, "se scale": 96 * 196, "residual add": 24 * 196}
    assert counted.total_mult_adds - plain.total_mult_adds == sum(extra.values())
    assert "element" in plain.convention and "SE scaling" in counted.convention


def test_profile_leaves_the_model_as_it_was() -> None:
    model = create_model("mobilenet_v3_small").train()
    profile(model)
    assert model.training
    assert not any(m._forward_hooks for m in model.modules())


def test_any_module_with_an_explicit_size() -> None:
    layer = nn.Conv2d(32, 64, 3, padding=1)
    report = profile(layer, 56)
    assert report.input_size == (32, 56, 56)
    assert report.total_mult_adds == 56 * 56 * 9 * 32 * 64 and report.total_params == 9 * 32 * 64 + 64


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("mobilenet_v1", 0), {}, r"input_size=0 is not a size"),
        (("mobilenet_v1", (1, 2, 3, 4)), {}, r"input_size=\(1, 2, 3, 4\) is not a size"),
        (("mobilenet_v1", 16), {}, r"below the minimum 32x32"),
        ((nn.Conv2d(3, 8, 3),), {}, r"no default input size"),
        ((nn.Linear(3, 8), 8), {}, r"no Conv2d to infer it from"),
        ((create_model("mobilenet_v2"),), {"width_mult": 0.5}, r"only apply when profile\(\) builds"),
        ((42,), {}, r"takes a model or a model name"),
        (("mobilenet_v4",), {}, r"unknown model 'mobilenet_v4'"),
    ],
)
def test_bad_arguments_are_named(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        profile(*args, **kwargs)


# -- renderings ---------------------------------------------------------------------------


def test_report_renders_as_dict_json_csv_and_table() -> None:
    import csv
    import io
    import json

    report = profile("mobilenet_v3_small")
    data = json.loads(report.to_json())
    assert (
        data["totals"]["mult_adds"] == report.total_mult_adds == sum(r["mult_adds"] for r in data["layers"])
    )
    assert data["layers"][0] == {
        "name": "stem.conv",
        "kind": "standard 3x3",
        "output_shape": [16, 112, 112],
        "mult_adds": 112 * 112 * 27 * 16,
        "params": 27 * 16,
    }
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert len(rows) == len(report.layers) and rows[-1]["name"] == "classifier"
    kinds = list(csv.DictReader(io.StringIO(report.to_csv(by_kind=True))))
    convs = {"pointwise 1x1", "depthwise 3x3", "depthwise 5x5", "standard 3x3"}
    assert {k["kind"] for k in kinds} == {*convs, "squeeze-excite", "fully connected"}
    text = report.render()
    assert "blocks.3.se.reduce" in text and f"{report.total_mult_adds:,}" in text
    assert "squeeze-excite" in report.render(by_kind=True)
    with pytest.raises(ValueError, match="does not occur"):
        report.share("depthwise 7x7")


def test_features_only_and_headless_models() -> None:
    report = profile("mobilenet_v2", features_only=True)
    assert report.total_mult_adds == closed_form("mobilenet_v2", classes=0)[0]
    assert all(row.kind != "fully connected" for row in report.layers)


def test_plain_forward_sanity() -> None:
    # The profiled forward pass is an ordinary one: outputs of the profiled model are unchanged.
    torch.manual_seed(0)
    model = create_model("mobilenet_v1_0.25").eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        before = model(x)
        profile(model)
        after = model(x)
    torch.testing.assert_close(before, after)
