"""Opt-in reference suite: our torchvision and timm converters against those libraries.

Run with ``make test-reference`` (its own venv: torch 2.14.1, torchvision 0.29.1, timm). Every
MobileNet model the two libraries list is built with random weights (BN statistics included),
saved the way the library's users save it, converted with ``convert_weights``, and compared on
the same input: max |Δ logits| must stay within 1e-4 x max |logits|. timm variants that our
paper-table builder cannot express must be refused with a reason, never mis-converted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")

from safetensors.torch import save_file  # noqa: E402

from mobilenets.convert import ConversionError, convert_weights  # noqa: E402
from mobilenets.convert.timm import UNSUPPORTED  # noqa: E402
from mobilenets.weights import load_model  # noqa: E402

TOLERANCE = 1e-4
TORCHVISION_MODELS = [n for n in torchvision.models.list_models() if n.startswith("mobilenet")]
TIMM_MODELS = sorted(
    {
        name
        for pattern in ("mobilenetv1_*", "mobilenetv2_*", "mobilenetv3_*", "tf_mobilenetv3_*")
        for name in timm.list_models(pattern)
    }
)
RESULTS: list[tuple[str, str]] = []


def randomize_batch_norm(model: torch.nn.Module, seed: int) -> None:
    """Give every BN non-trivial statistics and affine terms, so a mix-up cannot hide."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
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


def teardown_module() -> None:
    print("\nReference results (torch", torch.__version__, "torchvision", torchvision.__version__,
          "timm", timm.__version__ + ")")  # fmt: skip
    for model, result in RESULTS:
        print(f"  {model:45s} {result}")
