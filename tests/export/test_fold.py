"""Folding for inference: batch norm and SE gate affines; same function, the original untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mobilenets import create_model
from mobilenets.export.fold import (
    count_batchnorms,
    fold_batchnorm,
    fold_conv_bn,
    fold_for_inference,
    folding_error,
)
from mobilenets.models.layers import Conv2dSame, SqueezeExcite
from tests.export.trained_like import randomize_batchnorm


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("mobilenet_v1_0.25", {}),
        ("mobilenet_v2_0.35", {}),
        ("mobilenet_v3_small_0.75", {}),
        ("mobilenet_v3_large_0.75", {"padding": "tf_same"}),
    ],
)
def test_folded_model_computes_the_same_logits(name: str, kwargs: dict[str, str]) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, resolution_mult=96 / 224, **kwargs).eval()
    randomize_batchnorm(model)
    folded = fold_batchnorm(model)
    x = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        scale = float(model(x).abs().max())
    assert count_batchnorms(folded) == 0
    assert count_batchnorms(model) > 0  # the original keeps its BN layers
    assert folding_error(model, folded, x) <= 1e-5 * scale
    assert folded.preprocess == model.preprocess and folded.config == model.config


def test_fold_conv_bn_matches_conv_then_bn_with_bias_and_tf_padding() -> None:
    torch.manual_seed(0)
    conv = Conv2dSame(8, 8, 3, 2, 0, groups=8, bias=True)
    bn = nn.BatchNorm2d(8, eps=1e-3)
    randomize_batchnorm(bn)
    bn.eval()
    folded = fold_conv_bn(conv, bn)
    assert isinstance(folded, Conv2dSame) and folded.bias is not None
    x = torch.randn(2, 8, 15, 15)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), bn(conv(x)), rtol=1e-5, atol=1e-5)


def test_fold_refuses_batchnorm_without_statistics() -> None:
    with pytest.raises(ValueError, match="running statistics"):
        fold_conv_bn(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4, track_running_stats=False))


def test_se_gate_folds_into_a_clamp_with_the_same_output_in_all_three_regions() -> None:
    torch.manual_seed(0)
    model = create_model("mobilenet_v3_small_0.75", num_classes=10, resolution_mult=96 / 224).eval()
    randomize_batchnorm(model)
    gate_inputs: list[torch.Tensor] = []
    for module in model.modules():
        if isinstance(module, SqueezeExcite):
            module.expand.weight.data.mul_(20)  # spread the gate input over all three pieces
            module.expand.register_forward_hook(lambda _m, _i, out: gate_inputs.append(out))
    x = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        scale = float(model(x).abs().max())
    z = torch.cat([t.flatten() for t in gate_inputs])
    # hard-sigmoid is 0 below -3, linear between, 1 above 3: every piece must be exercised
    assert (z < -3).any() and ((z > -3) & (z < 3)).any() and (z > 3).any()

    folded = fold_for_inference(model)
    gates = [m.gate for m in folded.modules() if isinstance(m, SqueezeExcite)]
    assert gates and all(isinstance(g, nn.Hardtanh) and (g.min_val, g.max_val) == (0.0, 1.0) for g in gates)
    assert all(isinstance(m.gate, nn.Hardsigmoid) for m in model.modules() if isinstance(m, SqueezeExcite))
    assert count_batchnorms(folded) == 0
    assert folding_error(model, folded, x) <= 1e-5 * scale
