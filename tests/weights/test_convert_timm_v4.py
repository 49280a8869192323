"""timm MobileNetV4 weights without timm: a state dict in timm's layout, written by this test.

``to_timm_v4_layout`` renames our randomised model's tensors with its own table of timm's names
(``timm/models/_efficientnet_blocks.py``: ``ConvBnAct``, ``EdgeResidual``,
``UniversalInvertedResidual``, ``MobileAttention``), independent of the converter's. Converting
that back must give the same logits bit for bit. The reference suite (``make test-reference``)
does the same against timm itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mobilenets import create_model
from mobilenets.cli import main
from mobilenets.models.layers import ConvBnAct
from mobilenets.models.mobile_mqa import MobileMQA
from mobilenets.models.preprocess import IMAGENET_MEAN, INCEPTION_MEAN
from mobilenets.models.uib import FusedInvertedBottleneck, UniversalInvertedBottleneck
from mobilenets.weights import catalog
from mobilenets.weights.convert import AmbiguousSourceError, ConversionError, convert_weights
from mobilenets.weights.convert.timm_v4 import v4_candidates

# Our part -> timm's, per block class (timm names from _efficientnet_blocks.py / attention2d.py).
TIMM_PARTS: dict[type, dict[str, str]] = {
    ConvBnAct: {"conv": "conv", "bn": "bn1"},
    FusedInvertedBottleneck: {"expand.conv": "conv_exp", "expand.bn": "bn1", "project.conv": "conv_pwl",
                              "project.bn": "bn2"},
    UniversalInvertedBottleneck: {"start_dw": "dw_start", "expand": "pw_exp", "mid_dw": "dw_mid",
                                  "project": "pw_proj", "layer_scale": "layer_scale"},
    MobileMQA: {"norm": "norm", "query": "attn.query.proj", "key_down.conv": "attn.key.down_conv",
                "key_down.bn": "attn.key.norm", "key": "attn.key.proj",
                "value_down.conv": "attn.value.down_conv", "value_down.bn": "attn.value.norm",
                "value": "attn.value.proj", "output": "attn.output.proj", "layer_scale": "layer_scale"},
}  # fmt: skip
TIMM_TOP = {"stem.conv": "conv_stem", "stem.bn": "bn1", "head_conv.conv": "conv_head",
            "head_conv.bn": "norm_head", "classifier": "classifier"}  # fmt: skip
STAGE = 12  # blocks per timm stage here: 'blocks.0.10' sorts before 'blocks.0.2' as text


def rename(key: str, table: dict[str, str]) -> str:
    part = next(p for p in sorted(table, key=len, reverse=True) if key.startswith(p + "."))
    return table[part] + key[len(part) :]


def to_timm_v4_layout(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our V4 state dict under timm's names; the last timm stage is the 960 ConvBnAct alone."""
    blocks = list(model.blocks)
    last_stage = (len(blocks) - 1) // STAGE + 1
    timm_state: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        module, rest = key.split(".", 1)
        if module == "blocks":
            index, rest = rest.split(".", 1)
            block = blocks[int(index)]
            stage, position = divmod(int(index), STAGE)
            timm_state[f"blocks.{stage}.{position}.{rename(rest, TIMM_PARTS[type(block)])}"] = value
        elif module == "final_conv":
            timm_state[f"blocks.{last_stage}.0.{rename(rest, TIMM_PARTS[ConvBnAct])}"] = value
        else:
            timm_state[rename(key, TIMM_TOP)] = value
    return {key: value.contiguous() for key, value in timm_state.items()}


def randomized(name: str, seed: int = 0) -> torch.nn.Module:
    """Our model with random weights, BN statistics and layer-scale gammas (eval mode)."""
    torch.manual_seed(seed)
    model = create_model(name)
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    for key, parameter in model.named_parameters():
        if key.endswith("layer_scale.gamma"):
            parameter.data.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model.eval()


def same_logits(source: torch.nn.Module, converted: torch.nn.Module, size: int = 64) -> bool:
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return torch.equal(source(x), converted.eval()(x))


@pytest.fixture(scope="module")
def conv_medium_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """Conv-M in timm's layout: the same tensors as timm's anti-aliased Conv-M twins."""
    source = randomized("mobilenet_v4_conv_medium")
    path = tmp_path_factory.mktemp("v4") / "model.safetensors"
    save_file(to_timm_v4_layout(source), str(path))
    return path, source


@pytest.mark.parametrize(
    ("model", "size", "mean", "crop_pct"),
    [
        ("mobilenet_v4_conv_small", 224, IMAGENET_MEAN, 0.875),  # timm's default tag: e2400_r224
        ("mobilenet_v4_conv_small_0.5", 224, INCEPTION_MEAN, 0.875),  # e3000_r224: mean/std 0.5
        ("mobilenet_v4_hybrid_medium", 256, IMAGENET_MEAN, 0.95),  # MQA, layer scale, FusedIB
    ],
)
def test_timm_v4_layout_converts_to_identical_logits(
    model: str, size: int, mean: tuple[float, ...], crop_pct: float, tmp_path: Path
) -> None:
    source = randomized(model)
    src = tmp_path / "weights.safetensors"  # safetensors lists keys sorted as text
    save_file(to_timm_v4_layout(source), str(src))
    ours = convert_weights(src, tmp_path / "ours.safetensors")  # one timm model has this shape
    assert ours.config.arch == source.config.arch and ours.config.width_mult == source.config.width_mult
    assert (ours.config.padding, ours.config.bn_eps) == ("symmetric", 1e-5)
    assert ours.preprocess.input_size == (3, size, size) and ours.preprocess.mean == mean
    assert (ours.preprocess.interpolation, ours.preprocess.crop_pct) == ("bicubic", crop_pct)
    assert same_logits(source, ours)


def test_the_tag_sets_input_size_and_statistics(tmp_path: Path) -> None:
    source = randomized("mobilenet_v4_conv_small")
    src = tmp_path / "weights.pth"  # a pickled state dict keeps timm's order
    torch.save(to_timm_v4_layout(source), src)
    ours = convert_weights(
        src, tmp_path / "ours.safetensors", timm_model="mobilenetv4_conv_small.e3600_r256_in1k"
    )
    assert ours.config.default_input_size == 256 and ours.preprocess.input_size == (3, 256, 256)
    assert (ours.preprocess.mean, ours.preprocess.crop_pct) == (INCEPTION_MEAN, 0.95)
    assert same_logits(source, ours)
    with pytest.raises(ConversionError, match=r"no tag 'e9_r224_in1k' .*known: e2400_r224_in1k, e1200"):
        convert_weights(src, tmp_path / "x.safetensors", timm_model="mobilenetv4_conv_small.e9_r224_in1k")


@pytest.mark.parametrize("timm_name", ["mobilenetv4_conv_aa_medium", "mobilenetv4_conv_blur_medium"])
def test_anti_aliased_variants_convert_when_named(
    timm_name: str, conv_medium_file: tuple[Path, torch.nn.Module], tmp_path: Path
) -> None:
    """The plain Conv-M's tensors, named as an anti-aliased variant: that network, not Conv-M's."""
    src, plain = conv_medium_file
    arch = timm_name.replace("mobilenetv4_", "mobilenet_v4_")
    variant = create_model(arch).eval()
    variant.load_state_dict(plain.state_dict())
    assert not same_logits(plain, variant)  # stride-1 convs + pooling compute something else
    ours = convert_weights(src, tmp_path / "flag.safetensors", timm_model=timm_name)
    assert ours.config.arch == arch and same_logits(variant, ours)
    named = tmp_path / "named.safetensors"  # the name stored in the file settles it too
    save_file(to_timm_v4_layout(plain), str(named), metadata={"timm_model": timm_name})
    assert same_logits(variant, convert_weights(named, tmp_path / "meta.safetensors"))
    with pytest.raises(
        ConversionError, match=rf"--arch mobilenet_v4_conv_medium contradicts timm's {timm_name}"
    ):
        convert_weights(
            src, tmp_path / "x.safetensors", arch="mobilenet_v4_conv_medium", timm_model=timm_name
        )


def test_conv_medium_without_a_name_is_ambiguous(
    conv_medium_file: tuple[Path, torch.nn.Module], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, source = conv_medium_file
    dst = tmp_path / "ours.safetensors"
    plain, twins = "mobilenetv4_conv_medium", ("mobilenetv4_conv_aa_medium", "mobilenetv4_conv_blur_medium")
    for extra in ([], ["--arch", "mobilenet_v4_conv_medium"]):  # --arch does not name timm's model
        assert main(["convert", str(src), str(dst), *extra]) == 2
        line = capsys.readouterr().err.strip()
        assert "\n" not in line and "Traceback" not in line and str(src) in line
        assert all(f"--timm-model {name}" in line for name in (plain, *twins)) and "anti-aliased" in line
        assert "--timm-model NAME" in line
        assert not dst.exists()
    with pytest.raises(AmbiguousSourceError) as error:
        convert_weights(src, dst)
    assert error.value.candidates == (plain, *twins)
    with pytest.raises(AmbiguousSourceError):
        create_model("mobilenet_v4_conv_medium", weights=src)
    assert v4_candidates("mobilenet_v4_conv_large", 1.0) == (
        "mobilenetv4_conv_large",
        "mobilenetv4_conv_aa_large",
    )

    # Named, by the flag or by the config.json of a Hugging Face timm repo, it converts exactly.
    assert main(["convert", str(src), str(dst), "--timm-model", plain]) == 0
    assert same_logits(source, create_model(weights=dst))
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "model.safetensors").write_bytes(src.read_bytes())
    pretrained_cfg = {"tag": "e500_r224_in1k", "input_size": [3, 224, 224], "crop_pct": 0.95,
                      "interpolation": "bicubic", "mean": list(IMAGENET_MEAN),
                      "std": [0.229, 0.224, 0.225]}  # fmt: skip
    (hub / "config.json").write_text(json.dumps({"architecture": plain, "pretrained_cfg": pretrained_cfg}))
    model = create_model("mobilenet_v4_conv_medium", weights=hub / "model.safetensors")
    assert model.preprocess.input_size == (3, 224, 224) and model.preprocess.crop_pct == 0.95
    assert same_logits(source, model)


def test_official_v4_file_downloads_converts_and_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOBILENETS_CACHE", str(tmp_path / "cache"))
    source = randomized("mobilenet_v4_conv_small")
    tags = {"mobilenetv4_conv_small.e2400_r224_in1k": "mobilenet_v4_conv_small",
            "mobilenetv4_conv_small.e3600_r256_in1k": "mobilenet_v4_conv_small_256"}  # fmt: skip
    entries = []
    for tag, model in tags.items():  # laid out as on the hub: <repo>/model.safetensors, no name inside
        published = tmp_path / "hf" / tag / "model.safetensors"
        published.parent.mkdir(parents=True)
        save_file(to_timm_v4_layout(source), str(published))
        entries.append(catalog.OfficialWeights(model, "timm", published.as_uri(), timm_model=tag))
    monkeypatch.setattr(catalog, "OFFICIAL_WEIGHTS", entries)
    default = create_model("mobilenet_v4_conv_small", weights="timm")
    assert default.preprocess.input_size == (3, 224, 224) and default.preprocess.mean == IMAGENET_MEAN
    tagged = create_model("mobilenet_v4_conv_small", weights="timm:mobilenetv4_conv_small.e3600_r256_in1k")
    assert tagged.preprocess.input_size == (3, 256, 256) and tagged.preprocess.mean == INCEPTION_MEAN
    assert tagged.labels is not None and same_logits(source, tagged) and same_logits(source, default)
    downloads = sorted(path.name for path in (tmp_path / "cache" / "downloads").iterdir())
    assert downloads == [f"{tag}.safetensors" for tag in sorted(tags)]
    # Once converted, the file is used as it is: the publisher's copy is not read again.
    for tag in tags:
        (tmp_path / "hf" / tag / "model.safetensors").unlink()
    again = create_model("mobilenet_v4_conv_small_256", weights="timm")
    assert again.preprocess.input_size == (3, 256, 256) and same_logits(source, again)
