"""The mobilenets weight file: a round trip rebuilds the exact model from the file alone."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mobilenets import create_model
from mobilenets.models.preprocess import INCEPTION_MEAN, INCEPTION_STD
from mobilenets.weights.file_format import load_model, read_metadata, save_weights


def test_round_trip_rebuilds_model_config_preprocess_and_labels(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("mobilenet_v1_0.5_160", num_classes=3, padding="tf_same", act="relu6").eval()
    model.preprocess = model.preprocess.__class__(
        input_size=(3, 160, 160), mean=INCEPTION_MEAN, std=INCEPTION_STD, crop_pct=1.0
    )
    path = save_weights(model, tmp_path / "m.safetensors", labels=["a", "b", "c"], source="test")
    loaded = load_model(path)
    assert loaded.config == model.config
    assert loaded.preprocess == model.preprocess
    assert loaded.labels == ["a", "b", "c"]
    assert read_metadata(path).source == "test"
    x = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_labels_must_match_classes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"labels has 2 names but the model has num_classes=3"):
        save_weights(
            create_model("mobilenet_v3_small", num_classes=3), tmp_path / "x.safetensors", labels=["a", "b"]
        )


def test_foreign_safetensors_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(1)}, str(path))
    with pytest.raises(ValueError, match=r"without mobilenets metadata.*mobilenets convert"):
        load_model(path)


def test_shape_mismatch_names_keys_and_architecture(tmp_path: Path) -> None:
    from mobilenets.weights.state_fit import load_state_dict_checked

    state = create_model("mobilenet_v2_0.5").state_dict()
    with pytest.raises(ValueError, match=r"arch='mobilenet_v2', width_mult=1.*shape mismatch at stem.conv"):
        load_state_dict_checked(create_model("mobilenet_v2"), state)


def test_save_weights_never_writes_over_another_kind_of_file(tmp_path: Path) -> None:
    """A slip of the keyboard must not replace a photo, and a .pth would not load back."""
    photo = tmp_path / "chelsea.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"pixels")
    model = create_model("mobilenet_v3_small", width_mult=0.25, num_classes=3)
    for target in (photo, tmp_path / "x.pth", tmp_path):
        with pytest.raises(ValueError, match=r"\.safetensors"):
            save_weights(model, target)
    assert photo.read_bytes() == b"\x89PNG\r\n\x1a\n" + b"pixels"
    assert not (tmp_path / "x.pth").exists()
    written = save_weights(model, tmp_path / "new" / "m.safetensors")  # its folder is created
    assert load_model(written).config.width_mult == 0.25
