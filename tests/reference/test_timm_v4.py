"""Opt-in reference suite: timm's MobileNetV4 models against our conversion of their weights.

Run with ``make test-reference``. Every V4 timm name we support is built by timm with random
weights, random BN statistics and random layer-scale gammas, saved the two ways timm's users
have it (a ``state_dict`` in a ``.pth``, and a Hugging Face repo: ``model.safetensors`` beside
its ``config.json``, as ``timm.models.save_for_hf`` writes it), converted through the public API
and compared: max |Δ logits| <= 1e-4 x max |logits|.

Equality does not depend on the input size, so most models run at 96 px (Hybrid-L at 384 px
takes long on two cores); Conv-S and Hybrid-M run at their native sizes too.

The anti-aliased variants (``mobilenetv4_conv_aa_medium``, ``_conv_blur_medium``,
``_conv_aa_large``) have exactly the plain models' tensors: named, they convert exactly like the
others; unnamed, they are refused as ambiguous; and converting them as the plain model must
visibly differ from timm (which is why nothing may guess).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

timm = pytest.importorskip("timm")

from mobilenets import create_model  # noqa: E402
from mobilenets.weights.convert import AmbiguousSourceError, convert_weights  # noqa: E402
from mobilenets.weights.convert.timm_v4 import TWINS  # noqa: E402
from mobilenets.weights.file_format import load_model  # noqa: E402

TOLERANCE = 1e-4
SUPPORTED = [
    "mobilenetv4_conv_small",
    "mobilenetv4_conv_small_035",
    "mobilenetv4_conv_small_050",
    "mobilenetv4_conv_medium",
    "mobilenetv4_conv_large",
    "mobilenetv4_hybrid_medium",
    "mobilenetv4_hybrid_medium_075",
    "mobilenetv4_hybrid_large",
    "mobilenetv4_hybrid_large_075",
    "mobilenetv4_conv_aa_medium",
    "mobilenetv4_conv_blur_medium",
    "mobilenetv4_conv_aa_large",
]
ANTI_ALIASED = {twin: plain for plain, twins in TWINS.items() for twin in twins}
NATIVE = {"mobilenetv4_conv_small": 224, "mobilenetv4_hybrid_medium": 256}
RESULTS: list[tuple[str, str]] = []


def test_every_v4_name_timm_lists_is_covered() -> None:
    assert sorted(timm.list_models("mobilenetv4*")) == sorted(SUPPORTED)


def randomized_timm(name: str, seed: int = 0) -> torch.nn.Module:
    """timm's model with random weights, BN statistics and layer-scale gammas, in eval mode."""
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
        for key, parameter in model.named_parameters():
            if key.endswith("layer_scale.gamma"):  # timm starts them at 1e-5: near-identity blocks
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model.eval()


def relative_error(reference: torch.nn.Module, ours: torch.nn.Module, size: int) -> float:
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(x)
        got = ours.eval()(x)
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.fixture(scope="module", params=SUPPORTED)
def timm_model(request: pytest.FixtureRequest) -> tuple[str, torch.nn.Module]:
    return request.param, randomized_timm(request.param)


def test_state_dict_pth(timm_model: tuple[str, torch.nn.Module], tmp_path: Path) -> None:
    name, reference = timm_model
    src = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), src)
    convert_weights(src, tmp_path / "ours.safetensors", timm_model=name)
    ours = load_model(tmp_path / "ours.safetensors")
    errors = [relative_error(reference, ours, size) for size in sorted({96, NATIVE.get(name, 96)})]
    RESULTS.append((f"timm {name} (.pth)", "max rel |Δ logits| = " + ", ".join(f"{e:.2e}" for e in errors)))
    assert max(errors) <= TOLERANCE


def test_hub_model_safetensors(timm_model: tuple[str, torch.nn.Module], tmp_path: Path) -> None:
    """A Hugging Face timm repo: its config.json names the model and its preprocessing."""
    from timm.models import save_for_hf

    name, reference = timm_model
    save_for_hf(reference, str(tmp_path / "hub"), safe_serialization=True)
    ours = create_model(weights=tmp_path / "hub" / "model.safetensors")
    cfg = reference.pretrained_cfg
    assert ours.preprocess.mean == tuple(cfg["mean"]) and ours.preprocess.std == tuple(cfg["std"])
    assert (ours.preprocess.crop_pct, ours.preprocess.interpolation) == (
        cfg["crop_pct"],
        cfg["interpolation"],
    )
    assert ours.preprocess.input_size == tuple(cfg["input_size"])
    error = relative_error(reference, ours, 96)
    RESULTS.append((f"timm {name} (model.safetensors)", f"max rel |Δ logits| = {error:.2e}"))
    assert error <= TOLERANCE


@pytest.mark.parametrize("name", sorted(ANTI_ALIASED))
def test_anti_aliased_twins_need_a_name(name: str, tmp_path: Path) -> None:
    reference = randomized_timm(name)
    plain = ANTI_ALIASED[name]
    assert reference.state_dict().keys() == timm.create_model(plain).state_dict().keys()
    src = tmp_path / "weights.pth"
    torch.save(reference.state_dict(), src)
    dst = tmp_path / "ours.safetensors"
    with pytest.raises(AmbiguousSourceError) as error:
        convert_weights(src, dst)
    assert error.value.candidates == (plain, *TWINS[plain]) and not dst.exists()
    # What a guess would have given: the plain model's network on the variant's weights.
    convert_weights(src, dst, timm_model=plain)
    off = relative_error(reference, load_model(dst), 96)
    RESULTS.append((f"timm {name} (no name)", f"refused (exit 2); as {plain}: {off:.2e}"))
    assert off > 100 * TOLERANCE


def teardown_module() -> None:
    print("\nMobileNetV4 reference results (torch", torch.__version__, "timm", timm.__version__ + ")")
    for model, result in RESULTS:
        print(f"  {model:52s} {result}")
