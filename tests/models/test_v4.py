"""MobileNetV4: the UIB, FusedIB and Mobile MQA blocks, the five tables, and the model interface.

The expected values come from the paper's description of the blocks, from timm's released
networks (parameter counts, feature widths) or from plain torch ops written out in this file,
never from this package's own output. Parameter counts and the interface shared with V1-V3
(channels_last, torch.export) are parametrized in ``test_model.py``.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mobilenets import MobileNet, MobileNetConfig, create_model
from mobilenets.models.mobile_mqa import AttentionMatmuls, MobileMQA
from mobilenets.models.specs import (
    ARCHITECTURES,
    MOBILENET_V4_HYBRID_MEDIUM,
    ConvRow,
    FusedIBRow,
    MQARow,
    UIBRow,
)
from mobilenets.models.uib import FusedInvertedBottleneck, LayerScale, UniversalInvertedBottleneck

V4_MODELS = [
    "mobilenet_v4_conv_small",
    "mobilenet_v4_conv_medium",
    "mobilenet_v4_conv_large",
    "mobilenet_v4_hybrid_medium",
    "mobilenet_v4_hybrid_large",
]
# The paper's four instances of the UIB, by which depthwise convs they keep (start, middle).
INSTANCES = {"ExtraDW": (3, 5), "IB": (0, 3), "ConvNext": (5, 0), "FFN": (0, 0)}


def conv_weight(layer: nn.Module) -> nn.Conv2d:
    conv = layer.conv
    assert isinstance(conv, nn.Conv2d)
    return conv


# -- the Universal Inverted Bottleneck ------------------------------------------------------


@pytest.mark.parametrize("instance", list(INSTANCES))
def test_uib_instances_have_the_papers_sub_layers(instance: str) -> None:
    start, mid = INSTANCES[instance]
    block = UniversalInvertedBottleneck(16, 16, 64, start_dw_kernel=start, mid_dw_kernel=mid)
    # Optional depthwise before the expansion: k x k, one filter per input channel, no activation.
    if start:
        dw = conv_weight(block.start_dw)
        assert (dw.in_channels, dw.out_channels, dw.groups, dw.kernel_size) == (16, 16, 16, (start, start))
        assert isinstance(block.start_dw.act, nn.Identity)
    else:
        assert isinstance(block.start_dw, nn.Identity)
    # The 1x1 expansion, with BN and the activation.
    expand = conv_weight(block.expand)
    assert (expand.in_channels, expand.out_channels, expand.kernel_size) == (16, 64, (1, 1))
    assert isinstance(block.expand.act, nn.ReLU)
    # Optional depthwise on the expanded features, with activation.
    if mid:
        dw = conv_weight(block.mid_dw)
        assert (dw.in_channels, dw.out_channels, dw.groups, dw.kernel_size) == (64, 64, 64, (mid, mid))
        assert isinstance(block.mid_dw.act, nn.ReLU)
    else:
        assert isinstance(block.mid_dw, nn.Identity)
    # The linear projection (V2's linear bottleneck): BN, no activation.
    project = conv_weight(block.project)
    assert (project.in_channels, project.out_channels, project.kernel_size) == (64, 16, (1, 1))
    assert isinstance(block.project.act, nn.Identity)
    assert isinstance(block.layer_scale, nn.Identity) and block.has_skip
    assert UIBRow(start, mid, 64, 16).instance == instance


@pytest.mark.parametrize(
    ("start", "mid", "strided"),
    [(3, 5, "mid_dw"), (0, 3, "mid_dw"), (5, 0, "start_dw")],
    ids=["ExtraDW", "IB", "ConvNext"],
)
def test_uib_stride_sits_on_mid_dw_else_start_dw(start: int, mid: int, strided: str) -> None:
    block = UniversalInvertedBottleneck(16, 24, 64, start_dw_kernel=start, mid_dw_kernel=mid, stride=2)
    strides = {
        name: conv_weight(getattr(block, name)).stride
        for name in ("start_dw", "expand", "mid_dw", "project")
        if not isinstance(getattr(block, name), nn.Identity)
    }
    assert strides.pop(strided) == (2, 2)
    assert set(strides.values()) == {(1, 1)}
    assert block.eval()(torch.randn(1, 16, 9, 9)).shape == (1, 24, 5, 5)


def test_ffn_with_stride_2_is_refused() -> None:
    with pytest.raises(ValueError, match=r"stride=2 needs a depthwise conv to carry it"):
        UniversalInvertedBottleneck(16, 16, 64, start_dw_kernel=0, mid_dw_kernel=0, stride=2)


@pytest.mark.parametrize(
    ("in_chs", "out_chs", "stride", "skip"), [(16, 16, 1, True), (16, 24, 1, False), (16, 16, 2, False)]
)
def test_residual_only_when_shape_is_kept(in_chs: int, out_chs: int, stride: int, skip: bool) -> None:
    block = UniversalInvertedBottleneck(in_chs, out_chs, 32, 3, 3, stride=stride).eval()
    fused = FusedInvertedBottleneck(in_chs, out_chs, 32, 3, stride=stride).eval()
    for module in (block, fused):
        assert module.has_skip is skip
        # With the projection's BN at zero the branch is zero: what is left is the shortcut.
        nn.init.zeros_(module.project.bn.weight)
        nn.init.zeros_(module.project.bn.bias)
        x = torch.randn(1, in_chs, 8, 8)
        with torch.no_grad():
            out = module(x)
        if skip:
            torch.testing.assert_close(out, x)
        else:
            assert out.abs().max() == 0


def _bn(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """Eval-mode batch norm written out: (x - mean) / sqrt(var + eps) * weight + bias."""
    shape = (1, -1, 1, 1)
    scale = bn.weight.view(shape) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
    return (x - bn.running_mean.view(shape)) * scale + bn.bias.view(shape)


def _randomize_batch_norms(module: nn.Module) -> None:
    generator = torch.Generator().manual_seed(1)
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            for tensor in (bn.weight, bn.bias, bn.running_mean):
                tensor.data = torch.randn(tensor.shape, generator=generator)
            bn.running_var.data = torch.rand(bn.running_var.shape, generator=generator) + 0.5


@pytest.mark.parametrize(("out_chs", "stride"), [(4, 1), (6, 2)])
def test_extra_dw_uib_equals_the_ops_written_out(out_chs: int, stride: int) -> None:
    torch.manual_seed(0)
    block = UniversalInvertedBottleneck(4, out_chs, 8, start_dw_kernel=3, mid_dw_kernel=5, stride=stride)
    block.layer_scale = LayerScale(out_chs, 0.5)
    _randomize_batch_norms(block)
    block.eval()
    x = torch.randn(1, 4, 7, 7)
    # The block by hand: dw 3x3 (no act) -> 1x1 up (ReLU) -> dw 5x5 with the stride (ReLU) ->
    # 1x1 down (linear) -> x 0.5, plus the input when the shape is kept.
    w = {
        name: conv_weight(getattr(block, name)).weight for name in ("start_dw", "expand", "mid_dw", "project")
    }
    y = _bn(F.conv2d(x, w["start_dw"], padding=1, groups=4), block.start_dw.bn)
    y = F.relu(_bn(F.conv2d(y, w["expand"]), block.expand.bn))
    y = F.relu(_bn(F.conv2d(y, w["mid_dw"], stride=stride, padding=2, groups=8), block.mid_dw.bn))
    y = _bn(F.conv2d(y, w["project"]), block.project.bn) * 0.5
    if stride == 1:
        y = y + x
    with torch.no_grad():
        torch.testing.assert_close(block(x), y)
    assert y.shape == (1, out_chs, math.ceil(7 / stride), math.ceil(7 / stride))


# -- Mobile MQA -----------------------------------------------------------------------------


def test_mqa_shares_one_key_and_value_head() -> None:
    block = MobileMQA(32, 32, heads=4, key_dim=8).eval()
    assert (block.query.in_channels, block.query.out_channels) == (32, 4 * 8)  # a query per head
    assert block.key.out_channels == 8 and block.value.out_channels == 8  # one key, one value
    assert block.output.in_channels == 4 * 8 and block.output.out_channels == 32
    assert isinstance(block.key_down, nn.Identity) and isinstance(block.value_down, nn.Identity)
    assert block.has_skip and isinstance(block.layer_scale, nn.Identity)
    assert block(torch.randn(2, 32, 6, 5)).shape == (2, 32, 6, 5)


def _attention_inputs(block: MobileMQA, x: torch.Tensor) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    handle = block.attend.register_forward_hook(
        lambda _m, inputs, _out: shapes.extend(tuple(t.shape) for t in inputs)
    )
    with torch.no_grad():
        block(x)
    handle.remove()
    return shapes


def test_mqa_kv_stride_2_halves_key_and_value_positions() -> None:
    block = MobileMQA(16, 16, heads=2, key_dim=8, kv_stride=2, kv_kernel=3).eval()
    for down in (block.key_down, block.value_down):
        conv = conv_weight(down)
        assert (conv.stride, conv.groups, conv.kernel_size) == ((2, 2), 16, (3, 3))
    query, key, value = _attention_inputs(block, torch.randn(1, 16, 8, 6))
    assert query == (1, 2, 8 * 6, 8)  # every position queries, in each head
    assert key == value == (1, 1, 4 * 3, 8)  # half the rows and columns, one head
    plain = MobileMQA(16, 16, heads=2, key_dim=8).eval()
    assert _attention_inputs(plain, torch.randn(1, 16, 8, 6))[1] == (1, 1, 8 * 6, 8)


def test_mqa_equals_multi_query_attention_written_out() -> None:
    torch.manual_seed(0)
    heads, key_dim, channels = 3, 4, 8
    block = MobileMQA(channels, channels, heads, key_dim, kv_stride=2, layer_scale=0.5)
    _randomize_batch_norms(block)
    block.eval()
    x = torch.randn(1, channels, 5, 4)
    normed = _bn(x, block.norm)
    q = F.conv2d(normed, block.query.weight).reshape(heads, key_dim, 5 * 4)  # (h, d, Lq)
    kv = {}
    for name in ("key", "value"):
        down = getattr(block, f"{name}_down")
        pooled = _bn(F.conv2d(normed, down.conv.weight, stride=2, padding=1, groups=channels), down.bn)
        kv[name] = F.conv2d(pooled, getattr(block, name).weight).reshape(key_dim, 3 * 2)  # (d, Lk)
    logits = torch.einsum("hdq,dk->hqk", q, kv["key"]) / math.sqrt(key_dim)  # the same key for every head
    mixed = torch.einsum("hqk,dk->hdq", logits.softmax(-1), kv["value"]).reshape(1, heads * key_dim, 5, 4)
    expected = x + 0.5 * F.conv2d(mixed, block.output.weight)
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected)


# -- the five tables, as built ------------------------------------------------------------


@pytest.mark.parametrize("name", V4_MODELS)
def test_blocks_follow_the_table_rows(name: str) -> None:
    spec = ARCHITECTURES[name]
    with torch.device("meta"):
        model = create_model(name)
    kinds = {
        ConvRow: nn.Sequential,
        FusedIBRow: FusedInvertedBottleneck,
        UIBRow: UniversalInvertedBottleneck,
        MQARow: MobileMQA,
    }
    assert len(model.blocks) == len(spec.blocks)
    hybrid = "hybrid" in name
    for row, block in zip(spec.blocks, model.blocks, strict=True):
        assert isinstance(block, kinds[type(row)]), (row, block)
        if isinstance(row, UIBRow):
            assert isinstance(block.start_dw, nn.Identity) == (row.start_dw == 0)
            assert isinstance(block.mid_dw, nn.Identity) == (row.mid_dw == 0)
            assert conv_weight(block.expand).out_channels == row.expanded  # the table's expanded dim
        # Layer scale on every UIB and MQA of the hybrids, nowhere in the conv models.
        if isinstance(row, (UIBRow, MQARow)):
            assert isinstance(block.layer_scale, LayerScale) == hybrid
    scales = [m for m in model.modules() if isinstance(m, LayerScale)]
    assert (len(scales) > 0) == hybrid
    attention = [m for m in model.modules() if isinstance(m, AttentionMatmuls)]
    assert len(attention) == (8 if hybrid else 0)  # four Mobile MQA blocks in each of the last two stages


def test_hybrid_layer_scale_starts_at_1e_5_and_hybrid_large_uses_exact_gelu() -> None:
    model = create_model("mobilenet_v4_hybrid_medium_0.5")
    gammas = torch.cat([m.gamma for m in model.modules() if isinstance(m, LayerScale)])
    assert torch.all(gammas == 1e-5)
    with torch.device("meta"):
        large = create_model("mobilenet_v4_hybrid_large")
    gelus = [m for m in large.modules() if isinstance(m, nn.GELU)]
    assert gelus and all(m.approximate == "none" for m in gelus)
    assert not any(isinstance(m, nn.ReLU) for m in large.modules())


def test_medium_ffn_row_has_no_depthwise_conv() -> None:
    # timm's comment calls this Conv-M block (its 2.6) ExtraDW; the released weights have no dw conv in it.
    row = ARCHITECTURES["mobilenet_v4_conv_medium"].blocks[9]
    assert isinstance(row, UIBRow) and row.instance == "FFN"
    assert (row.expanded, row.out) == (320, 160)


# -- interface: the same as V1-V3 --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "channels"), [("mobilenet_v4_conv_small", 960), ("mobilenet_v4_hybrid_medium", 960)]
)
def test_forward_features_head_and_reset_classifier(name: str, channels: int) -> None:
    model = create_model(name, width_mult=0.5).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, channels // 2, 2, 2)  # the 960 conv scales with alpha
        assert model.forward_head(features, pre_logits=True).shape == (2, 1280)  # the head does not
        model.reset_classifier(5)
        assert model(x).shape == (2, 5)


@pytest.mark.parametrize(
    ("name", "widths"),
    [
        ("mobilenet_v4_conv_small", [32, 32, 64, 96, 960]),
        ("mobilenet_v4_hybrid_medium", [32, 48, 80, 160, 960]),
    ],
)
def test_features_only_and_out_indices(name: str, widths: list[int]) -> None:
    # Widths at reductions 2-32 as timm's features_only models report them.
    model = create_model(name, features_only=True, out_indices=(1, 3, 4)).eval()
    assert [(f.num_chs, f.reduction) for f in model.feature_info] == list(
        zip(widths, (2, 4, 8, 16, 32), strict=True)
    )
    with torch.no_grad():
        maps = model(torch.randn(1, 3, 64, 64))
    assert [tuple(m.shape) for m in maps] == [(1, widths[1], 16, 16), (1, widths[3], 4, 4), (1, 960, 2, 2)]


def test_depth_multiplier_is_refused() -> None:
    with pytest.raises(ValueError, match=r"depth_multiplier=2 contradicts arch='mobilenet_v4_conv_small'"):
        create_model("mobilenet_v4_conv_small", depth_multiplier=2)


def test_size_suffix_is_relative_to_the_paper_input() -> None:
    model = create_model("mobilenet_v4_conv_medium_224").eval()
    assert model.config.resolution_mult == pytest.approx(224 / 256)
    assert model.preprocess.input_size == (3, 224, 224)
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 224, 224)).shape == (1, 960, 7, 7)
    assert create_model("mobilenet_v4_conv_large").preprocess.input_size == (3, 384, 384)


def _tiny_hybrid(monkeypatch: pytest.MonkeyPatch) -> MobileNet:
    """Every V4 row type in a few layers, for checks that take over a minute on a whole V4 model."""
    spec = dataclasses.replace(
        MOBILENET_V4_HYBRID_MEDIUM,
        stem_channels=8,
        blocks=(
            ConvRow(3, 8, stride=2),
            FusedIBRow(3, 16, 8),
            UIBRow(3, 5, 32, 16, stride=2),
            UIBRow(0, 3, 32, 16),
            MQARow(heads=2, key_dim=8, out=16, kv_stride=2),
            UIBRow(5, 0, 32, 24, stride=2),
            UIBRow(0, 0, 48, 24),
            MQARow(heads=2, key_dim=8, out=24),
            UIBRow(3, 3, 48, 32, stride=2),
        ),
        final_conv_channels=64,
        head_hidden=128,
    )
    monkeypatch.setitem(ARCHITECTURES, "tiny_v4_hybrid", spec)
    return MobileNet(MobileNetConfig(arch="tiny_v4_hybrid", num_classes=10)).eval()


def test_torch_compile_captures_every_v4_block_in_one_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    # fullgraph: no graph break anywhere (the attention's reshapes included). The aot_eager
    # backend traces as inductor does but skips code generation, which takes 1-2 minutes per
    # model on 2 cores; test_model.py compiles a V2 with inductor.
    torch.manual_seed(0)
    model = _tiny_hybrid(monkeypatch)
    x = torch.randn(2, 3, 64, 64)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
