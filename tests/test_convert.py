"""Conversion plumbing that needs no reference library: detection, refusals, the CLI."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest
import torch
from keras.src.legacy.saving import legacy_h5_format
from safetensors.torch import save_file

from mobilenets import create_model
from mobilenets.cli import main
from mobilenets.convert import ConversionError, convert_weights, detect_source
from mobilenets.convert.timm import arch_from_timm_name
from mobilenets.weights import load_state_dict_checked

from .keras_reference import build


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

    from .keras_reference import logits, randomize

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
