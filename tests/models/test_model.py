"""The model: exact parameter counts, shapes, features, validation, and compilers."""

import math

import pytest
import torch

from mobilenets import MobileNet, MobileNetConfig, create_model, list_models

# Parameter counts of the reference implementations (torchvision / timm / Keras trainable
# weights) at 1000 classes. V4: timm's mobilenetv4_* models (every parameter, BN included).
REFERENCE_PARAMETERS = [
    ("mobilenet_v1", 1.0, 4_231_976),
    ("mobilenet_v1", 0.75, 2_585_560),
    ("mobilenet_v1", 0.5, 1_331_592),
    ("mobilenet_v1", 0.25, 470_072),
    ("mobilenet_v2", 1.0, 3_504_872),
    ("mobilenet_v3_large", 1.0, 5_483_032),
    ("mobilenet_v3_small", 1.0, 2_542_856),
    ("mobilenet_v3_large", 0.75, 3_993_528),
    ("mobilenet_v3_small", 0.75, 2_041_872),
    ("mobilenet_v3_large_minimal", 1.0, 3_924_288),
    ("mobilenet_v4_conv_small", 1.0, 3_774_024),
    ("mobilenet_v4_conv_medium", 1.0, 9_715_512),
    ("mobilenet_v4_conv_large", 1.0, 32_590_864),
    ("mobilenet_v4_hybrid_medium", 1.0, 11_074_648),
    ("mobilenet_v4_hybrid_large", 1.0, 37_764_624),
    ("mobilenet_v4_conv_small", 0.35, 1_905_384),
    ("mobilenet_v4_conv_small", 0.5, 2_238_952),
    ("mobilenet_v4_hybrid_medium", 0.75, 7_313_528),
    ("mobilenet_v4_hybrid_large", 0.75, 22_754_984),
]
SIZES = [224, 192, 160, 128, 96, 225]
FINAL_WIDTH = {
    "mobilenet_v1": 1024,
    "mobilenet_v1_conv": 1024,
    "mobilenet_v2": 1280,
    "mobilenet_v3_large": 1280,
    "mobilenet_v3_large_minimal": 1280,
    "mobilenet_v3_small": 1024,
    "mobilenet_v3_small_minimal": 1024,
    "mobilenet_v4_conv_small": 1280,
    "mobilenet_v4_conv_medium": 1280,
    "mobilenet_v4_conv_large": 1280,
    "mobilenet_v4_hybrid_medium": 1280,
    "mobilenet_v4_hybrid_large": 1280,
    "mobilenet_v4_conv_aa_medium": 1280,
    "mobilenet_v4_conv_blur_medium": 1280,
    "mobilenet_v4_conv_aa_large": 1280,
}


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "alpha", "expected"), REFERENCE_PARAMETERS)
def test_parameter_counts_match_reference(name: str, alpha: float, expected: int) -> None:
    with torch.device("meta"):  # shapes only: V4-L's 38 M random weights would take seconds
        model = create_model(name, width_mult=alpha)
    assert count_parameters(model) == expected


def ceil_reduce(size: int, reduction: int) -> int:
    for _ in range(int(math.log2(reduction))):
        size = math.ceil(size / 2)
    return size


# TF 'SAME' padding matters for TF-born weights (V1-V3); for V4 two models cover it, to keep the
# suite's time (the large V4s take seconds per size).
SHAPE_CASES = [(name, "symmetric") for name in list_models()] + [
    (name, "tf_same")
    for name in list_models()
    if not name.startswith("mobilenet_v4")
    or name in ("mobilenet_v4_conv_small", "mobilenet_v4_hybrid_medium")
]


@pytest.mark.parametrize(("name", "padding"), SHAPE_CASES)
def test_output_and_feature_shapes(name: str, padding: str) -> None:
    classifier = create_model(name, padding=padding, num_classes=7).eval()
    features = create_model(name, padding=padding, features_only=True).eval()
    with torch.no_grad():
        for size in SIZES:
            x = torch.randn(2, 3, size, size)
            assert classifier(x).shape == (2, 7)
            maps = features(x)
            assert [info.reduction for info in features.feature_info] == [2, 4, 8, 16, 32]
            assert len(maps) == 5
            for feature, info in zip(maps, features.feature_info, strict=True):
                side = ceil_reduce(size, info.reduction)
                if features.config.spec.anti_alias == "avg" and info.reduction > 2:
                    # 2x2 average pooling floors an odd side (as timm's do); the stem still ceils.
                    side = ceil_reduce(size, 2) // (info.reduction // 2)
                assert feature.shape == (2, info.num_chs, side, side), (size, info)


def test_tf_same_differs_from_symmetric_only_in_padding() -> None:
    # Same weights, different padding: results differ (the stride-2 windows shift by a pixel).
    torch.manual_seed(0)
    symmetric = create_model("mobilenet_v2").eval()
    same = create_model("mobilenet_v2", padding="tf_same").eval()
    same.load_state_dict(symmetric.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        a, b = symmetric.forward_features(x), same.forward_features(x)
    assert a.shape == b.shape
    assert (a - b).abs().max() > 1e-2 * a.abs().max()


def test_feature_info_channels_v2() -> None:
    # V2 Table 2: the last layers at reductions 2, 4, 8, 16 are the 16/24/32/96 bottlenecks.
    model = create_model("mobilenet_v2", features_only=True, out_indices=(1, 3))
    assert [(f.num_chs, f.reduction) for f in model.feature_info] == [
        (16, 2),
        (24, 4),
        (32, 8),
        (96, 16),
        (1280, 32),
    ]
    maps = model(torch.randn(1, 3, 64, 64))
    assert [m.shape[1] for m in maps] == [24, 96]


@pytest.mark.parametrize("name", list_models())
def test_headless_returns_pooled_features(name: str) -> None:
    model = create_model(name, num_classes=0).eval()
    assert model(torch.randn(2, 3, 96, 96)).shape == (2, FINAL_WIDTH[name])
    assert model.num_features == FINAL_WIDTH[name]


def test_forward_head_pre_logits_and_reset_classifier() -> None:
    model = create_model("mobilenet_v3_small").eval()
    features = model.forward_features(torch.randn(1, 3, 224, 224))
    assert features.shape == (1, 576, 7, 7)
    assert model.forward_head(features, pre_logits=True).shape == (1, 1024)
    model.reset_classifier(10, global_pool="max")
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 10)
    assert model.config.num_classes == 10 and model.config.global_pool == "max"
    assert isinstance(model.global_pool, torch.nn.AdaptiveMaxPool2d)


def test_resolution_mult_sets_default_input_size() -> None:
    model = create_model("mobilenet_v1", resolution_mult=160 / 224)
    assert model.config.default_input_size == 160
    assert model.preprocess.input_size == (3, 160, 160)


def test_depth_multiplier_widens_depthwise_convs() -> None:
    model = create_model("mobilenet_v1", depth_multiplier=2)
    block = model.blocks[0]
    assert block.dw.conv.in_channels == 32 and block.dw.conv.out_channels == 64
    assert block.dw.conv.groups == 32
    v3 = create_model("mobilenet_v3_small", depth_multiplier=2).eval()
    assert v3(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_v1_activation_and_family_defaults() -> None:
    v1 = create_model("mobilenet_v1", act="relu6")
    assert all(not isinstance(m, torch.nn.ReLU) for m in v1.modules())
    assert v1.config.bn_eps == 1e-3 and v1.blocks[0].dw.bn.eps == 1e-3
    v2 = create_model("mobilenet_v2", bn_eps=1e-3, dropout=0.5, in_chans=1)
    assert v2.stem.bn.eps == 1e-3 and v2.dropout.p == 0.5 and v2.stem.conv.in_channels == 1


def test_v3_alpha_keeps_head_and_scales_expansion_from_rounded_input() -> None:
    model = create_model("mobilenet_v3_large", width_mult=0.75)
    assert model.head_fc.out_features == 1280  # the efficient last stage is not narrowed
    # Table 1's 184/80 = 2.3 expansion on the rounded 0.75 input (64) gives make_divisible(147.2).
    assert model.blocks[8].expand.conv.out_channels == 144


def test_config_round_trip_rebuilds_identical_architecture() -> None:
    model = create_model("mobilenet_v1_0.5_160", num_classes=10)
    rebuilt = MobileNet(MobileNetConfig.from_dict(model.config.to_dict()))
    assert rebuilt.config == model.config
    assert count_parameters(rebuilt) == count_parameters(model)


# -- validation: every error names the parameter, its value and what is allowed --------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width_mult": 0.0}, r"width_mult=0.0 is out of range; allowed: a number in \(0, 4\]"),
        ({"width_mult": -1}, r"width_mult=-1 is out of range"),
        ({"resolution_mult": 0.1}, r"resolution_mult=0.1 .*input size 32 px is the minimum"),
        ({"depth_multiplier": 0}, r"depth_multiplier=0 .*integer >= 1"),
        ({"num_classes": -1}, r"num_classes=-1"),
        ({"dropout": 1.5}, r"dropout=1.5"),
        ({"global_pool": "sum"}, r"global_pool='sum'.*'avg' or 'max'"),
        ({"padding": "same"}, r"padding='same'.*'symmetric' or 'tf_same'"),
        ({"features_only": True, "out_indices": (0, 5)}, r"out_indices=\(0, 5\).*indices 0-4"),
        ({"out_indices": (1, 2)}, r"out_indices=\(1, 2\) contradicts features_only=False"),
    ],
)
def test_config_validation_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("mobilenet_v2", **kwargs)


def test_act_and_min_depth_are_v1_only() -> None:
    with pytest.raises(ValueError, match=r"act='relu' contradicts arch='mobilenet_v3_small'"):
        create_model("mobilenet_v3_small", act="relu")
    with pytest.raises(ValueError, match=r"min_depth=4 contradicts arch='mobilenet_v2'"):
        create_model("mobilenet_v2", min_depth=4)
    with pytest.raises(ValueError, match=r"act='gelu' is out of range; allowed: 'relu' or 'relu6'"):
        create_model("mobilenet_v1", act="gelu")


def test_input_too_small_names_the_minimum() -> None:
    model = create_model("mobilenet_v3_small").eval()
    with pytest.raises(ValueError, match=r"input size 31x64 is below the minimum 32x32"):
        model(torch.randn(1, 3, 31, 64))


def test_wrong_channel_count_is_named() -> None:
    model = create_model("mobilenet_v1").eval()
    with pytest.raises(ValueError, match=r"input has 1 channels; this model takes in_chans=3"):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"expected a 4-D batch"):
        model(torch.randn(3, 64, 64))


def test_reset_classifier_on_features_only_is_refused() -> None:
    model = create_model("mobilenet_v2", features_only=True)
    with pytest.raises(ValueError, match="contradicts features_only=True"):
        model.reset_classifier(10)


# -- channels_last, torch.export, torch.compile -----------------------------------------
@pytest.mark.parametrize(
    "name", ["mobilenet_v1", "mobilenet_v3_large", "mobilenet_v4_conv_small", "mobilenet_v4_hybrid_medium"]
)
def test_channels_last_matches_contiguous(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, padding="tf_same").eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        actual = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "padding"),
    [
        ("mobilenet_v3_small", "symmetric"),
        ("mobilenet_v3_small", "tf_same"),
        ("mobilenet_v4_conv_small", "symmetric"),
        ("mobilenet_v4_hybrid_medium", "symmetric"),
    ],
)
def test_torch_export_with_dynamic_batch(name: str, padding: str) -> None:
    model = create_model(name, padding=padding).eval()
    x = torch.randn(2, 3, 96, 96)
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    y = torch.randn(5, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(y), model(y), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_torch_compile_matches_eager() -> None:
    model = create_model("mobilenet_v2_0.35", padding="tf_same").eval()
    x = torch.randn(2, 3, 64, 64)
    compiled = torch.compile(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
