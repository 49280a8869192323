"""``ProfileReport``: totals, the breakdown by kind, and its renderings (dict, JSON, CSV, tables).

The report is built here by hand from a few layers whose costs are worked out in the comments,
so every expected figure is independent of the profiler.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest

from mobilenets.cost.report import KIND_FC, KIND_SE, LayerCost, ProfileReport

# A toy network on a 3x32x32 input:
#   stem 3x3 s2, 3 -> 8 channels, 16x16 out:  16*16 * 9*3*8 = 55,296 Mult-Adds, 9*3*8 = 216 weights
#   dw 3x3, 8 channels, 16x16:                16*16 * 9*8   = 18,432,          9*8   =  72
#   pw 1x1, 8 -> 16, 16x16:                   16*16 * 8*16  = 32,768,          8*16  = 128
#   dw 3x3 s2, 16 channels, 8x8:              8*8 * 9*16    =  9,216,          9*16  = 144
#   SE fc 16 -> 4 -> 16 (with biases):        16*4 + 4*16   =    128,  64+4 + 64+16  = 148
#   fc 16 -> 10 (with bias):                  16*10         =    160,  160 + 10      = 170
LAYERS = (
    LayerCost("stem.conv", "standard 3x3", (8, 16, 16), 55_296, 216),
    LayerCost("blocks.0.dw.conv", "depthwise 3x3", (8, 16, 16), 18_432, 72),
    LayerCost("blocks.0.pw.conv", "pointwise 1x1", (16, 16, 16), 32_768, 128),
    LayerCost("blocks.1.dw.conv", "depthwise 3x3", (16, 8, 8), 9_216, 144),
    LayerCost("blocks.1.se", KIND_SE, (16, 1, 1), 128, 148),
    LayerCost("classifier", KIND_FC, (10,), 160, 170),
)
TOTAL_MULT_ADDS = 116_000  # 55,296 + 18,432 + 32,768 + 9,216 + 128 + 160
TOTAL_PARAMS = 878  # 216 + 72 + 128 + 144 + 148 + 170
MODEL_PARAMS = 1_234_567  # batch norm included: any number larger than the costed layers'


def toy_report(layers: tuple[LayerCost, ...] = LAYERS) -> ProfileReport:
    return ProfileReport(
        model="toy", input_size=(3, 32, 32), layers=layers, model_params=MODEL_PARAMS, convention="MACs"
    )


def test_totals_are_the_sums_of_the_layers() -> None:
    report = toy_report()
    assert report.total_mult_adds == TOTAL_MULT_ADDS
    assert report.total_params == TOTAL_PARAMS
    assert report.model_params == MODEL_PARAMS


def test_by_kind_sums_each_kind_and_orders_by_mult_adds() -> None:
    shares = toy_report().by_kind()
    expected = [  # (kind, layers, Mult-Adds, params), the largest Mult-Adds first
        ("standard 3x3", 1, 55_296, 216),
        ("pointwise 1x1", 1, 32_768, 128),
        ("depthwise 3x3", 2, 27_648, 216),  # 18,432 + 9,216 and 72 + 144
        (KIND_FC, 1, 160, 170),
        (KIND_SE, 1, 128, 148),
    ]
    assert [(s.kind, s.layers, s.mult_adds, s.params) for s in shares] == expected
    for share, (_, _, mult_adds, params) in zip(shares, expected, strict=True):
        assert share.mult_adds_pct == pytest.approx(100 * mult_adds / TOTAL_MULT_ADDS)
        assert share.params_pct == pytest.approx(100 * params / TOTAL_PARAMS)
    assert sum(s.mult_adds_pct for s in shares) == pytest.approx(100.0)
    assert sum(s.params_pct for s in shares) == pytest.approx(100.0)


def test_ties_order_by_params_then_by_name() -> None:
    layers = (
        LayerCost("a", "kind b", (1,), 100, 5),
        LayerCost("b", "kind a", (1,), 100, 5),
        LayerCost("c", "kind c", (1,), 100, 9),
    )
    assert [s.kind for s in toy_report(layers).by_kind()] == ["kind c", "kind a", "kind b"]


def test_zero_totals_give_zero_percentages_not_a_division_error() -> None:
    report = toy_report((LayerCost("act", "hard-swish", (8, 4, 4), 0, 0),))
    assert report.total_mult_adds == 0 and report.total_params == 0
    [share] = report.by_kind()
    assert (share.mult_adds_pct, share.params_pct) == (0.0, 0.0)
    assert toy_report(()).by_kind() == []


def test_share_finds_a_kind_and_names_the_present_kinds_when_absent() -> None:
    report = toy_report()
    depthwise = report.share("depthwise 3x3")
    assert (depthwise.layers, depthwise.mult_adds) == (2, 27_648)
    with pytest.raises(ValueError, match="'depthwise 5x5' does not occur in toy") as error:
        report.share("depthwise 5x5")
    for kind in ("standard 3x3", "pointwise 1x1", "depthwise 3x3", KIND_FC, KIND_SE):
        assert repr(kind) in str(error.value)


def test_to_dict_and_to_json_hold_every_figure_in_plain_types() -> None:
    report = toy_report()
    data = json.loads(report.to_json())
    assert data == report.to_dict()
    assert data["model"] == "toy" and data["input_size"] == [3, 32, 32] and data["convention"] == "MACs"
    assert data["totals"] == {
        "mult_adds": TOTAL_MULT_ADDS,
        "attention_mult_adds": 0,
        "params": TOTAL_PARAMS,
        "model_params": MODEL_PARAMS,
    }
    assert data["layers"][1] == {
        "name": "blocks.0.dw.conv",
        "kind": "depthwise 3x3",
        "output_shape": [8, 16, 16],
        "mult_adds": 18_432,
        "params": 72,
    }
    assert [row["name"] for row in data["layers"]] == [layer.name for layer in LAYERS]
    first = data["by_kind"][0]
    assert first["kind"] == "standard 3x3" and first["mult_adds"] == 55_296
    assert first["mult_adds_pct"] == pytest.approx(100 * 55_296 / TOTAL_MULT_ADDS)
    assert json.loads(report.to_json(indent=None)) == data
    assert "\n" not in report.to_json(indent=None)


def test_csv_per_layer() -> None:
    rows = list(csv.reader(io.StringIO(toy_report().to_csv())))
    assert rows[0] == ["name", "kind", "output_shape", "mult_adds", "params"]
    assert rows[1] == ["stem.conv", "standard 3x3", "8x16x16", "55296", "216"]
    assert rows[6] == ["classifier", KIND_FC, "10", "160", "170"]
    assert len(rows) == 1 + len(LAYERS)


def test_csv_by_kind_with_percentages() -> None:
    rows = list(csv.reader(io.StringIO(toy_report().to_csv(by_kind=True))))
    assert rows[0] == ["kind", "layers", "mult_adds", "mult_adds_pct", "params", "params_pct"]
    kind, layers, mult_adds, ma_pct, params, p_pct = rows[3]
    assert (kind, layers, mult_adds, params) == ("depthwise 3x3", "2", "27648", "216")
    assert float(ma_pct) == pytest.approx(100 * 27_648 / 116_000, abs=5e-5)  # 23.8345
    assert float(p_pct) == pytest.approx(100 * 216 / 878, abs=5e-5)  # 24.6014
    assert len(ma_pct.split(".")[1]) == 4
    assert len(rows) == 1 + 5


def test_summary_gives_the_totals_in_millions() -> None:
    report = toy_report()
    assert report.summary() == "toy at 32x32x3: 0.12 M Mult-Adds, 1.23 M parameters (878 in costed layers)"
    assert str(report) == report.summary()


def test_layers_table_renders_each_layer_and_the_totals() -> None:
    text = toy_report().render(width=110)
    for layer in LAYERS:
        assert layer.name in text
    assert "8x16x16" in text and "55,296" in text and "18,432" in text
    assert "116,000" in text and "878" in text  # the footer's totals
    assert "toy at 32x32x3" in text  # the title: height x width x channels
    assert text.rstrip().splitlines()[-1] == toy_report().summary()
    assert max(len(line) for line in text.splitlines()) <= 110
    assert "\x1b[" not in text  # plain text, no terminal colour codes


def test_kinds_table_renders_one_row_per_kind() -> None:
    text = toy_report().render(by_kind=True, width=120)
    assert "cost by kind" in text
    lines = text.splitlines()
    depthwise = next(line for line in lines if "depthwise 3x3" in line)
    assert "27,648" in depthwise and f"{100 * 27_648 / 116_000:.2f}" in depthwise  # 23.83
    assert f"{100 * 216 / 878:.2f}" in depthwise  # 24.60
    assert "stem.conv" not in text  # kinds, not layers
    assert "100.00" in text  # the footer


def test_a_narrow_render_keeps_to_the_width() -> None:
    text = toy_report().render(width=60)
    assert max(len(line) for line in text.splitlines()) <= 60


def test_reports_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        toy_report().model = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        LAYERS[0].mult_adds = 1  # type: ignore[misc]
