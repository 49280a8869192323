"""Opt-in reference suite: our torchvision and timm converters against those libraries.

Run with ``make test-reference`` (its own venv: torch 2.14.1, torchvision 0.29.1, timm). Every
MobileNet model the two libraries list is built with random weights (BN statistics included),
saved the way the library's users save it, converted with ``convert_weights``, and compared on
the same input: max |Δ logits| must stay within 1e-4 x max |logits|. timm variants that our
paper-table builder cannot express must be refused with a reason, never mis-converted.

timm's V3-Large/Small exist twice with identical state dicts: the ``tf_`` port (TF 'SAME' padding,
BN eps 1e-3, mean/std 0.5) and timm's own model (symmetric padding, BN eps 1e-5, ImageNet
mean/std). Saved without a hint, each must be refused with both names; named by
``--timm-model`` or by the ``config.json`` timm's ``save_for_hf`` writes beside the weights, it
must match timm exactly, while the twin's settings must visibly not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")

from safetensors.torch import save_file  # noqa: E402

from mobilenets.cli import main  # noqa: E402
from mobilenets.weights.convert import AmbiguousSourceError, ConversionError, convert_weights  # noqa: E402
from mobilenets.weights.convert.timm import UNSUPPORTED  # noqa: E402
from mobilenets.weights.file_format import load_model  # noqa: E402

TOLERANCE = 1e-4
TORCHVISION_MODELS = [n for n in torchvision.models.list_models() if n.startswith("mobilenet")]
TIMM_MODELS = sorted(
    {
        name
        for pattern in ("mobilenetv1_*", "mobilenetv2_*", "mobilenetv3_*", "tf_mobilenetv3_*")
        for name in timm.list_models(pattern)
    }
)
# The V3 models timm has both as a TF port and as its own PyTorch-trained model.
V3_TWINS = [f"{prefix}mobilenetv3_{size}_{width}" for size in ("large", "small")
            for width in ("075", "100") for prefix in ("tf_", "")]  # fmt: skip
RESULTS: list[tuple[str, str]] = []


def randomize_batch_norm(model: torch.nn.Module, seed: int, small_variance: bool = False) -> None:
    """Give every BN non-trivial statistics and affine terms, so a mix-up cannot hide.

    With ``small_variance``, running variances are 0.002-0.022, where BN eps 1e-3 vs 1e-5 is a
    large difference; the scales shrink by the same square root to keep activations in range.
    """
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            if small_variance:
                variance = torch.rand(n, generator=generator) * 0.02 + 2e-3
                scale = variance.sqrt() * (torch.rand(n, generator=generator) + 0.5)
            else:
                variance = torch.rand(n, generator=generator) + 0.5
                scale = torch.rand(n, generator=generator) + 0.5
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(variance)
            module.weight.data.copy_(scale)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)


def compare(reference: torch.nn.Module, converted_path: Path, size: int = 224) -> float:
    """max |Δ logits| / max |logits| between the library's model and ours."""
    ours = load_model(converted_path)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference.eval()(x)
        got = ours(x)
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_torchvision(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.get_model(name, weights=None)
    randomize_batch_norm(reference, 0)
    src = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), src)
    convert_weights(src, tmp_path / "ours.safetensors")
    error = compare(reference, tmp_path / "ours.safetensors")
    RESULTS.append((f"torchvision {name}", f"max rel |Δ logits| = {error:.2e}"))
    assert error <= TOLERANCE


@pytest.mark.parametrize("name", TIMM_MODELS)
def test_timm(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False)
    randomize_batch_norm(reference, 0)
    # timm's hub files are safetensors, whose keys come back sorted: the converter must not
    # depend on the order of the state dict.
    src = tmp_path / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(src))
    if name in UNSUPPORTED:
        with pytest.raises(ConversionError, match="not supported"):
            convert_weights(src, tmp_path / "ours.safetensors", timm_model=name)
        RESULTS.append((f"timm {name}", f"unsupported (refused): {UNSUPPORTED[name]}"))
        return
    convert_weights(src, tmp_path / "ours.safetensors", timm_model=name)
    error = compare(reference, tmp_path / "ours.safetensors")
    RESULTS.append((f"timm {name}", f"max rel |Δ logits| = {error:.2e}"))
    assert error <= TOLERANCE


def twin_of(name: str) -> str:
    return name.removeprefix("tf_") if name.startswith("tf_") else f"tf_{name}"


def timm_twin(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False)
    randomize_batch_norm(reference, 0, small_variance=True)
    return reference.eval()


@pytest.mark.parametrize("name", V3_TWINS)
def test_timm_v3_without_a_hint_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in timm_twin(name).state_dict().items()}, str(src))
    dst = tmp_path / "ours.safetensors"
    tf_name, timm_name = sorted((name, twin_of(name)), key=lambda n: not n.startswith("tf_"))
    size = "large" if "large" in name else "small"
    arch = f"mobilenet_v3_{size}_{int(name[-3:]) / 100}"
    for extra in ([], ["--arch", arch]):  # --arch does not name timm's model
        assert main(["convert", str(src), str(dst), *extra]) == 2
        line = capsys.readouterr().err.strip()
        assert "\n" not in line and "Traceback" not in line
        assert str(src) in line and tf_name in line and timm_name in line and "--timm-model NAME" in line
        assert not dst.exists()
    with pytest.raises(AmbiguousSourceError) as error:
        convert_weights(src, dst)
    assert error.value.candidates == (tf_name, timm_name)
    RESULTS.append((f"timm {name} (no hint)", f"refused (exit 2): names {tf_name} and {timm_name}"))


@pytest.mark.parametrize("hint", ["--timm-model", "config.json"])
@pytest.mark.parametrize("name", V3_TWINS)
def test_timm_v3_named_matches_timm(name: str, hint: str, tmp_path: Path) -> None:
    reference = timm_twin(name)
    dst = tmp_path / "ours.safetensors"
    if hint == "--timm-model":
        src = tmp_path / "weights.safetensors"
        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(src))
        assert main(["convert", str(src), str(dst), "--timm-model", name]) == 0
    else:  # a Hugging Face timm repo, as timm itself writes it: model.safetensors + config.json
        from timm.models import save_for_hf

        save_for_hf(reference, str(tmp_path / "hub"), safe_serialization=True)
        src = tmp_path / "hub" / "model.safetensors"
        assert main(["convert", str(src), str(dst)]) == 0
    ours = load_model(dst)
    assert ours.preprocess.mean == tuple(reference.pretrained_cfg["mean"])
    assert ours.preprocess.std == tuple(reference.pretrained_cfg["std"])
    error = compare(reference, dst)
    result = f"{hint}: max rel |Δ logits| = {error:.2e}"
    if hint == "--timm-model":  # what a guess of the twin would have given
        convert_weights(src, tmp_path / "twin.safetensors", timm_model=twin_of(name))
        twin_error = compare(reference, tmp_path / "twin.safetensors")
        result += f"; as {twin_of(name)}: {twin_error:.2e}"
        assert twin_error > 100 * TOLERANCE
    RESULTS.append((f"timm {name}", result))
    assert error <= TOLERANCE


def teardown_module() -> None:
    print("\nReference results (torch", torch.__version__, "torchvision", torchvision.__version__,
          "timm", timm.__version__ + ")")  # fmt: skip
    for model, result in RESULTS:
        print(f"  {model:45s} {result}")
