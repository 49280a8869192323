"""Conversion plumbing that needs no reference library: detection, refusals, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
import torch
from keras.src.legacy.saving import legacy_h5_format
from safetensors.torch import load_file, save_file

from mobilenets import create_model
from mobilenets.cli import main
from mobilenets.weights import catalog
from mobilenets.weights.convert import AmbiguousSourceError, ConversionError, convert_weights, detect_source
from mobilenets.weights.convert.timm import arch_from_timm_name, convert_timm
from mobilenets.weights.file_format import load_model
from mobilenets.weights.state_fit import load_state_dict_checked
from tests.keras_reference import build


def test_detect_source_by_keys(tmp_path: Path) -> None:
    torch.save(
        {"features.0.0.weight": torch.zeros(1), "features.1.conv.0.0.weight": torch.zeros(1)},
        tmp_path / "a.pth",
    )
    save_file({"conv_stem.weight": torch.zeros(1)}, str(tmp_path / "b.safetensors"))
    assert detect_source(tmp_path / "a.pth") == "torchvision"
    assert detect_source(tmp_path / "b.safetensors") == "timm"
    assert detect_source(tmp_path / "c.keras") == "keras"


def test_unknown_layouts_are_refused_with_what_is_supported(tmp_path: Path) -> None:
    torch.save({"resnet.conv1.weight": torch.zeros(1)}, tmp_path / "resnet.pth")
    with pytest.raises(ConversionError, match=r"cannot tell which library wrote it.*resnet.conv1.weight"):
        convert_weights(tmp_path / "resnet.pth", tmp_path / "x.safetensors")
    torch.save(create_model("mobilenet_v3_small").state_dict(), tmp_path / "ours.pth")
    with pytest.raises(ConversionError, match=r"already uses mobilenets' names"):
        convert_weights(tmp_path / "ours.pth", tmp_path / "x.safetensors")


def test_source_given_must_agree_with_the_file(tmp_path: Path) -> None:
    save_file({"conv_stem.weight": torch.zeros(1)}, str(tmp_path / "timm.safetensors"))
    with pytest.raises(ConversionError, match=r"source='torchvision' was given, but its keys are timm's"):
        convert_weights(tmp_path / "timm.safetensors", tmp_path / "x.safetensors", source="torchvision")


@pytest.mark.parametrize(
    ("timm_name", "expected"),
    [
        ("tf_mobilenetv3_large_minimal_100", ("mobilenet_v3_large_minimal", 1.0)),
        ("mobilenetv2_035.untrained", ("mobilenet_v2", 0.35)),
        ("mobilenetv1_125", ("mobilenet_v1", 1.25)),
    ],
)
def test_timm_names(timm_name: str, expected: tuple[str, float]) -> None:
    assert arch_from_timm_name(timm_name) == expected


def test_unsupported_timm_variants_say_why() -> None:
    with pytest.raises(ConversionError, match=r"mobilenetv2_110d is not supported: .*deepen stages"):
        arch_from_timm_name("mobilenetv2_110d.ra_in1k")
    with pytest.raises(ConversionError, match=r"not a MobileNet V1/V2/V3"):
        arch_from_timm_name("resnet50")


def test_mismatch_error_says_what_the_weights_look_like() -> None:
    state = create_model("mobilenet_v2_0.5").state_dict()
    with pytest.raises(ValueError, match=r"stem.conv.weight.*look like arch='mobilenet_v2', width_mult=0.5"):
        load_state_dict_checked(create_model("mobilenet_v2"), state)


def test_headless_keras_v3_is_refused_with_the_fix(tmp_path: Path) -> None:
    reference = build("v3_small", 0.75, 96, include_top=False, include_preprocessing=False)
    with h5py.File(tmp_path / "no_top.h5", "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, reference)
    with pytest.raises(ConversionError, match=r"include_top=False.*Convert the include_top=True file"):
        convert_weights(tmp_path / "no_top.h5", tmp_path / "x.safetensors")


def test_convert_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = build("v1", 0.25, 128)
    reference.save_weights(tmp_path / "keras_v1.weights.h5")
    dst = tmp_path / "v1.safetensors"
    assert (
        main(["convert", str(tmp_path / "keras_v1.weights.h5"), str(dst), "--arch", "mobilenet_v1_0.25_128"])
        == 0
    )
    out = capsys.readouterr().out
    assert "mobilenet_v1 α=0.25 input 128px" in out and "padding=tf_same" in out and "act=relu6" in out
    assert main(["convert", str(tmp_path / "missing.h5"), str(dst)]) == 2
    assert "missing.h5: no such file" in capsys.readouterr().err


def save_in_keras2_layout(model, path: Path) -> None:
    """Write weights the way Keras 2 (and so the official keras-applications files) did.

    Keras 2 named V3 layers with slashes ('expanded_conv_1/depthwise', 'Conv/BatchNorm'), which
    h5py stores as nested groups, suffixed weights with ':0' and called the depthwise kernel
    'depthwise_kernel'. Keras 3 cannot write this any more, so the test does it by hand.
    """
    import numpy as np

    keras2_names = {"conv": "Conv", "conv_bn": "Conv/BatchNorm", "conv_1": "Conv_1", "conv_2": "Conv_2"}
    with h5py.File(path, "w") as handle:
        names = []
        for layer in model.layers:
            if not layer.weights:
                continue
            name = keras2_names.get(layer.name, layer.name)
            name = name.replace("expanded_conv_", "expanded_conv/", 1).replace("_bn", "/BatchNorm")
            group = handle.require_group(name)
            weight_names = []
            for variable in layer.weights:
                role = variable.path.split("/")[-1]
                if role == "kernel" and "depthwise" in layer.name:
                    role = "depthwise_kernel"
                weight_name = f"{name}/{role}:0"
                group[weight_name] = np.asarray(variable.numpy())
                weight_names.append(weight_name.encode())
            group.attrs["weight_names"] = weight_names
            names.append(name.encode())
        handle.attrs["layer_names"] = names


def test_keras2_layout_of_the_official_files(tmp_path: Path) -> None:
    import numpy as np

    from tests.keras_reference import logits, randomize

    reference = build("v3_small", 0.75, 96)
    randomize(reference, seed=2, input_range=(0.0, 255.0))
    save_in_keras2_layout(reference, tmp_path / "weights_mobilenet_v3_small_224_0.75_float.h5")
    with h5py.File(tmp_path / "weights_mobilenet_v3_small_224_0.75_float.h5") as handle:
        assert "expanded_conv/depthwise/BatchNorm" in handle  # nested groups, as in Keras 2 files
    model = convert_weights(
        tmp_path / "weights_mobilenet_v3_small_224_0.75_float.h5", tmp_path / "x.safetensors"
    )
    x = np.random.default_rng(0).uniform(0, 255, (1, 96, 96, 3)).astype(np.float32)
    expected = logits(reference, x)
    with torch.no_grad():
        got = model(torch.from_numpy(x / 127.5 - 1.0).permute(0, 3, 1, 2)).numpy()
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


# --- timm's tf_ ports and their PyTorch-trained twins: the file alone cannot tell them apart ---

_TIMM_IR = {
    "expand.conv": "conv_pw",
    "expand.bn": "bn1",
    "dw.conv": "conv_dw",
    "dw.bn": "bn2",
    "project.conv": "conv_pwl",
    "project.bn": "bn3",
}
_TIMM_DS = {"dw.conv": "conv_dw", "dw.bn": "bn1", "project.conv": "conv_pw", "project.bn": "bn2"}
_TIMM_SE = {"se.reduce": "se.conv_reduce", "se.expand": "se.conv_expand"}
TIMM_SETTINGS = {  # what timm builds each kind with, and the preprocessing it publishes
    "tf": {"padding": "tf_same", "bn_eps": 1e-3, "mean": (0.5, 0.5, 0.5)},
    "timm": {"padding": "symmetric", "bn_eps": 1e-5, "mean": (0.485, 0.456, 0.406)},
}  # fmt: skip


def to_timm_layout(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our V2 / V3 state dict under timm's EfficientNet-family names (the inverse of map_timm).

    Every block goes to a stage of its own (``blocks.<i>.0``); V3's last 1x1 conv becomes the
    final ``ConvBnAct`` stage and its hidden head layer the 1x1 ``conv_head``; V2's last conv
    is ``conv_head`` + ``bn2``.
    """
    state = model.state_dict()
    num_blocks = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("blocks."))
    v3 = "head_fc.weight" in state
    timm_state: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        module, rest = key.split(".", 1)
        if module == "blocks":
            index, rest = rest.split(".", 1)
            table = {**(_TIMM_IR if f"blocks.{index}.expand.conv.weight" in state else _TIMM_DS), **_TIMM_SE}
            part = next(part for part in table if rest.startswith(part + "."))
            timm_state[f"blocks.{index}.0.{table[part]}{rest[len(part) :]}"] = value
        elif module == "stem":
            part, suffix = rest.split(".", 1)
            timm_state[f"{'conv_stem' if part == 'conv' else 'bn1'}.{suffix}"] = value
        elif module == "final_conv":
            part, suffix = rest.split(".", 1)
            if v3:
                timm_state[f"blocks.{num_blocks}.0.{'conv' if part == 'conv' else 'bn1'}.{suffix}"] = value
            else:
                timm_state[f"{'conv_head' if part == 'conv' else 'bn2'}.{suffix}"] = value
        elif module == "head_fc":
            timm_state[f"conv_head.{rest}"] = value[:, :, None, None] if value.dim() == 2 else value
        else:
            timm_state[key] = value
    return {key: value.contiguous() for key, value in timm_state.items()}


def randomize_batch_norm(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial BN statistics and affine terms (eval mode), so BN eps and padding matter.

    Variances of 0.002-0.022 make eps 1e-3 vs 1e-5 a visible difference; the scales are
    shrunk by the same square root so that activations keep their size through the network.
    """
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            variance = torch.rand(n, generator=generator) * 0.02 + 2e-3
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.01)
            module.running_var.copy_(variance)
            module.weight.data.copy_(variance.sqrt() * (torch.rand(n, generator=generator) + 0.5))
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    return model.eval()


def timm_source(arch: str, kind: str, seed: int = 0) -> torch.nn.Module:
    """Our model built the way timm builds the ``kind`` ('tf' or 'timm') of ``arch``."""
    torch.manual_seed(seed)
    settings = TIMM_SETTINGS[kind]
    model = create_model(arch, padding=settings["padding"], bn_eps=settings["bn_eps"])
    return randomize_batch_norm(model, seed)


def timm_names(size: str, width: float) -> tuple[str, str]:
    """('tf_mobilenetv3_large_075', 'mobilenetv3_large_075')."""
    return f"tf_mobilenetv3_{size}_{round(width * 100):03d}", f"mobilenetv3_{size}_{round(width * 100):03d}"


def relative_logit_error(source: torch.nn.Module, converted: torch.nn.Module, size: int = 96) -> float:
    """max |Δ logits| / max |logits| on a random batch.

    The size is even at every stride-2 layer (96, 48, 24, 12, 6), where TF 'SAME' pads one
    pixel more after than before: there it differs from symmetric padding.
    """
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = source(x)
        got = converted.eval()(x)
    return float((got - expected).abs().max() / expected.abs().max())


V3_CASES = [(size, width) for size in ("large", "small") for width in (1.0, 0.75)]


@pytest.mark.parametrize(("size", "width"), V3_CASES)
def test_timm_v3_without_a_hint_is_refused_naming_both_models(
    size: str, width: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tf_name, timm_name = timm_names(size, width)
    src = tmp_path / f"{tf_name}.safetensors"
    save_file(to_timm_layout(timm_source(f"mobilenet_v3_{size}_{width}", "tf")), str(src))
    dst = tmp_path / "ours.safetensors"
    # --arch names our architecture, not timm's model: it settles nothing.
    for extra in ([], ["--arch", f"mobilenet_v3_{size}_{width}"]):
        assert main(["convert", str(src), str(dst), "--source", "timm", *extra]) == 2
        captured = capsys.readouterr()
        line = captured.err.strip()
        assert "\n" not in line and "Traceback" not in line and captured.out == ""
        assert line.startswith(f"mobilenets convert: error: {src}: ")
        assert f"{tf_name} (TF 'SAME' padding, BN eps 1e-3, mean/std 0.5)" in line
        assert f"{timm_name} (symmetric padding, BN eps 1e-5, ImageNet mean/std)" in line
        assert "--timm-model NAME" in line and f"--timm-model {tf_name}" in line
        assert not dst.exists()
    with pytest.raises(AmbiguousSourceError) as error:
        convert_weights(src, dst)
    assert error.value.candidates == (tf_name, timm_name)
    assert isinstance(error.value, ConversionError) and not dst.exists()
    # The same refusal in memory, where there is no file to look beside.
    with pytest.raises(AmbiguousSourceError, match=r"^the state dict: .*--timm-model NAME"):
        convert_timm(load_file(str(src)))
    # ... and wherever a foreign file is converted on the fly.
    with pytest.raises(AmbiguousSourceError):
        create_model(f"mobilenet_v3_{size}_{width}", weights=src)


@pytest.mark.parametrize("hint", ["flag", "config.json"])
@pytest.mark.parametrize("kind", ["tf", "timm"])
@pytest.mark.parametrize(("size", "width"), V3_CASES)
def test_timm_v3_named_model_converts_exactly(
    size: str, width: float, kind: str, hint: str, tmp_path: Path
) -> None:
    arch = f"mobilenet_v3_{size}_{width}"
    name = dict(zip(("tf", "timm"), timm_names(size, width), strict=True))[kind]
    source = timm_source(arch, kind)
    src = tmp_path / "model.safetensors"
    save_file(to_timm_layout(source), str(src))
    argv = ["convert", str(src), str(tmp_path / "ours.safetensors")]
    if hint == "flag":
        argv += ["--timm-model", name]
    else:  # a Hugging Face timm repo: config.json beside model.safetensors
        mean = TIMM_SETTINGS[kind]["mean"]
        pretrained_cfg = {"mean": list(mean), "std": [0.5] * 3 if kind == "tf" else [0.229, 0.224, 0.225],
                          "interpolation": "bicubic", "crop_pct": 0.9}  # fmt: skip
        (tmp_path / "config.json").write_text(
            json.dumps({"architecture": name, "pretrained_cfg": pretrained_cfg})
        )
    assert main(argv) == 0
    ours = load_model(tmp_path / "ours.safetensors")
    settings = TIMM_SETTINGS[kind]
    assert (ours.config.arch, ours.config.width_mult) == (f"mobilenet_v3_{size}", width)
    assert (ours.config.padding, ours.config.bn_eps) == (settings["padding"], settings["bn_eps"])
    assert ours.preprocess.mean == settings["mean"]
    if hint == "config.json":
        assert (ours.preprocess.interpolation, ours.preprocess.crop_pct) == ("bicubic", 0.9)
    assert relative_logit_error(source, ours) <= 1e-4


@pytest.mark.parametrize(
    ("padding", "bn_eps", "at_least"),
    [("symmetric", 1e-5, 1e-2), ("symmetric", 1e-3, 1e-3), ("tf_same", 1e-5, 1e-2)],
)
def test_the_wrong_twin_would_have_been_far_off(padding: str, bn_eps: float, at_least: float) -> None:
    """Why guessing is not allowed, and why the tests above can tell: padding and BN eps each
    change these logits by far more than the 1e-4 tolerance."""
    source = timm_source("mobilenet_v3_large_0.75", "tf")
    wrong = create_model("mobilenet_v3_large_0.75", padding=padding, bn_eps=bn_eps)
    wrong.load_state_dict(source.state_dict())
    assert relative_logit_error(source, wrong) > at_least


def test_timm_model_name_inside_the_file_settles_it(tmp_path: Path) -> None:
    source = timm_source("mobilenet_v3_small_0.75", "tf")
    src = tmp_path / "a.safetensors"
    save_file(to_timm_layout(source), str(src), metadata={"timm_model": "tf_mobilenetv3_small_075"})
    ours = convert_weights(src, tmp_path / "a_ours.safetensors")
    assert (ours.config.padding, ours.config.bn_eps) == ("tf_same", 1e-3)
    assert relative_logit_error(source, ours) <= 1e-4

    # A pickled training checkpoint that names its model (timm's train.py stores it as 'arch').
    source = timm_source("mobilenet_v3_large", "timm")
    checkpoint = {"arch": "mobilenetv3_large_100", "epoch": 3, "state_dict": to_timm_layout(source)}
    torch.save(checkpoint, tmp_path / "checkpoint.pth.tar")
    ours = convert_weights(tmp_path / "checkpoint.pth.tar", tmp_path / "b_ours.safetensors")
    assert (ours.config.padding, ours.config.bn_eps) == ("symmetric", 1e-5)
    assert relative_logit_error(source, ours) <= 1e-4

    # A class name is not a model name: still ambiguous.
    torch.save({"arch": "mobilenetv3", "state_dict": to_timm_layout(source)}, tmp_path / "c.pth")
    with pytest.raises(AmbiguousSourceError, match="mobilenetv3_large_100"):
        convert_weights(tmp_path / "c.pth", tmp_path / "c_ours.safetensors")


def test_timm_model_flag_wins_over_config_json(tmp_path: Path) -> None:
    source = timm_source("mobilenet_v3_small", "timm")
    src = tmp_path / "model.safetensors"
    save_file(to_timm_layout(source), str(src))
    (tmp_path / "config.json").write_text(
        json.dumps({"architecture": "tf_mobilenetv3_small_100", "pretrained_cfg": {"mean": [0.5] * 3}})
    )
    ours = convert_weights(src, tmp_path / "ours.safetensors", timm_model="mobilenetv3_small_100")
    assert (ours.config.padding, ours.preprocess.mean) == ("symmetric", (0.485, 0.456, 0.406))
    assert relative_logit_error(source, ours) <= 1e-4
    # Python callers that convert on the fly: config.json beside the file settles it too.
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "mobilenetv3_small_100"}))
    model = create_model("mobilenet_v3_small", weights=src)
    assert relative_logit_error(source, model) <= 1e-4


def test_named_model_that_does_not_fit_says_so(tmp_path: Path) -> None:
    src = tmp_path / "model.safetensors"
    save_file(to_timm_layout(timm_source("mobilenet_v3_small_0.75", "tf")), str(src))
    with pytest.raises(
        ConversionError, match=r"do not fit timm's tf_mobilenetv3_small_100 \(named by --timm-model"
    ):
        convert_weights(src, tmp_path / "ours.safetensors", timm_model="tf_mobilenetv3_small_100")


@pytest.mark.parametrize("size", ["large", "small"])
def test_minimal_timm_v3_exists_only_as_tf_port(size: str, tmp_path: Path) -> None:
    source = timm_source(f"mobilenet_v3_{size}_minimal", "tf")
    src = tmp_path / "minimal.safetensors"
    save_file(to_timm_layout(source), str(src))
    ours = convert_weights(src, tmp_path / "ours.safetensors")
    assert (ours.config.padding, ours.config.bn_eps) == ("tf_same", 1e-3)
    assert ours.preprocess.mean == (0.5, 0.5, 0.5)
    assert relative_logit_error(source, ours) <= 1e-4


def test_timm_v2_has_no_tf_twin_and_needs_no_hint(tmp_path: Path) -> None:
    source = timm_source("mobilenet_v2_0.5", "timm")
    src = tmp_path / "v2.safetensors"
    save_file(to_timm_layout(source), str(src))
    ours = convert_weights(src, tmp_path / "ours.safetensors")
    assert (ours.config.padding, ours.config.bn_eps) == ("symmetric", 1e-5)
    assert relative_logit_error(source, ours) <= 1e-4


def test_official_timm_weights_name_their_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hub.fetch_official passes each official file's timm name, so none of them is refused."""
    assert all(entry.timm_model for entry in catalog.OFFICIAL_WEIGHTS if entry.source == "timm")
    monkeypatch.setenv("MOBILENETS_CACHE", str(tmp_path / "cache"))
    source = timm_source("mobilenet_v3_small_0.75", "tf")
    published = tmp_path / "publisher" / "tf_mobilenetv3_small_075-00000000.pth"
    published.parent.mkdir()
    torch.save(to_timm_layout(source), published)
    entry = catalog.OfficialWeights(
        "mobilenet_v3_small_0.75", "timm", published.as_uri(), timm_model="tf_mobilenetv3_small_075"
    )
    monkeypatch.setattr(catalog, "OFFICIAL_WEIGHTS", [entry])
    model = create_model("mobilenet_v3_small_0.75", weights="timm")
    assert (model.config.padding, model.config.bn_eps) == ("tf_same", 1e-3)
    assert relative_logit_error(source, model) <= 1e-4
