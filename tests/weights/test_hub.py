"""Named official weights: download (here from file:// URLs), verify, convert once, reuse."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from keras.src.legacy.saving import legacy_h5_format

from mobilenets import create_model
from mobilenets.cli import main
from mobilenets.weights import catalog
from mobilenets.weights.file_format import read_metadata
from mobilenets.weights.official import OfficialWeights, WeightsDownloadError, find_official
from tests.keras_reference import build, logits, randomize


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MOBILENETS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory: pytest.TempPathFactory):
    """A Keras MobileNetV3-Small 0.75 in the official legacy-h5 layout, random weights."""
    import h5py

    reference = build("v3_small", 0.75, 224)
    randomize(reference, seed=5, input_range=(0.0, 255.0))
    path = tmp_path_factory.mktemp("publisher") / "weights_mobilenet_v3_small_224_0.75_float.h5"
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, reference)
    return path, reference


def publish(monkeypatch: pytest.MonkeyPatch, entry: OfficialWeights) -> None:
    """Make ``entry`` the only official file (instead of the real URLs)."""
    monkeypatch.setattr(catalog, "OFFICIAL_WEIGHTS", [entry])


def test_download_verify_convert_once_then_reuse(
    cache: Path, keras_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, reference = keras_file
    data = path.read_bytes()
    entry = OfficialWeights(
        "mobilenet_v3_small_0.75",
        "keras",
        path.as_uri(),
        sha256_prefix=hashlib.sha256(data).hexdigest()[:8],
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
    )
    publish(monkeypatch, entry)
    model = create_model("mobilenet_v3_small_0.75", weights="keras")
    assert (cache / "downloads" / path.name).read_bytes() == data
    converted = cache / "converted" / "mobilenet_v3_small_0.75_224-keras.safetensors"
    assert read_metadata(converted).source.endswith(hashlib.sha256(data).hexdigest())

    x = np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    with torch.no_grad():
        ours = model(torch.from_numpy(x / 127.5 - 1.0).permute(0, 3, 1, 2)).numpy()
    expected = logits(reference, x)
    assert np.abs(ours - expected).max() <= 1e-4 * np.abs(expected).max()

    # Second use: no download, no conversion (the publisher's URL is gone now).
    publish(monkeypatch, OfficialWeights("mobilenet_v3_small_0.75", "keras", "file:///nonexistent/x.h5"))
    stamp = converted.stat().st_mtime_ns
    again = create_model("mobilenet_v3_small_0.75", weights="keras")
    assert converted.stat().st_mtime_ns == stamp
    torch.testing.assert_close(again.state_dict(), model.state_dict())


def test_checksum_mismatch_is_refused_and_the_file_removed(
    cache: Path, keras_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = keras_file
    publish(
        monkeypatch,
        OfficialWeights("mobilenet_v3_small_0.75", "keras", path.as_uri(), sha256_prefix="00000000"),
    )
    with pytest.raises(WeightsDownloadError, match=r"does not start with the published 00000000"):
        create_model("mobilenet_v3_small_0.75", weights="keras")
    assert not (cache / "downloads" / path.name).exists()
    assert not (cache / "converted").exists()


def test_without_network_the_error_names_url_and_where_to_put_the_file(
    cache: Path, keras_file, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "http://127.0.0.1:9/keras-applications/weights_mobilenet_v3_small_224_0.75_float.h5"
    publish(monkeypatch, OfficialWeights("mobilenet_v3_small_0.75", "keras", url))
    expected_place = cache / "downloads" / "weights_mobilenet_v3_small_224_0.75_float.h5"
    with pytest.raises(WeightsDownloadError) as error:
        create_model("mobilenet_v3_small_0.75", weights="keras")
    assert url in str(error.value) and str(expected_place) in str(error.value)
    assert list((cache / "downloads").iterdir()) == []  # no partial file left behind

    # The CLI says the same, last, and exits 4 (the system could not fetch the file).
    assert (
        main(["predict", str(keras_file[0]), "--weights", "keras", "--model", "mobilenet_v3_small_0.75"]) == 4
    )
    assert url in capsys.readouterr().err.splitlines()[-1]

    # A manually placed copy is verified and used.
    expected_place.write_bytes(keras_file[0].read_bytes())
    model = create_model("mobilenet_v3_small_0.75", weights="keras")
    assert model.config.arch == "mobilenet_v3_small" and model.labels is not None


def test_official_table_is_consistent() -> None:
    entries = catalog.OFFICIAL_WEIGHTS
    assert all(e.url.startswith("https://") for e in entries)
    for entry in entries:
        if entry.sha256_prefix:  # torch.hub's convention: the prefix is in the file name
            assert f"-{entry.sha256_prefix}." in entry.url
    keras_v3 = [e for e in entries if e.source == "keras" and "mobilenet_v3" in e.url]
    assert len(keras_v3) == 6 and all(e.md5 and len(e.md5) == 32 for e in keras_v3)
    assert find_official("mobilenet_v2", "torchvision").url.endswith("mobilenet_v2-7ebf99e0.pth")
    # torchvision's older release by its enum name (MobileNet_V2_Weights.IMAGENET1K_V1)
    original = find_official("mobilenet_v2", "torchvision:IMAGENET1K_V1")
    assert original.url.endswith("mobilenet_v2-b0353104.pth") and original.crop_pct is None
    assert find_official("mobilenet_v3_large", "torchvision:IMAGENET1K_V1").sha256_prefix == "8738ca79"
    with pytest.raises(ValueError, match=r"no official torchvision release .* IMAGENET1K_V1, IMAGENET1K_V2$"):
        find_official("mobilenet_v2", "torchvision:IMAGENET1K_V3")
    assert find_official("mobilenet_v1_0.5_160", "keras").url.endswith("mobilenet/mobilenet_5_0_160_tf.h5")
    assert (
        find_official("mobilenet_v3_large", "timm:tf_mobilenetv3_large_100").timm_model
        == "tf_mobilenetv3_large_100"
    )
    with pytest.raises(
        ValueError, match=r"torchvision publishes no weights for 'mobilenet_v1'.*It has: mobilenet_v2"
    ):
        find_official("mobilenet_v1", "torchvision")


def test_weights_that_do_not_match_the_name_are_refused(tmp_path: Path) -> None:
    from mobilenets import save_weights

    path = save_weights(create_model("mobilenet_v3_small"), tmp_path / "small.safetensors")
    with pytest.raises(
        ValueError, match=r"asked for 'mobilenet_v2', but .*small.safetensors holds mobilenet_v3_small"
    ):
        create_model("mobilenet_v2", weights=path)
    with pytest.raises(ValueError, match=r"would change the shapes"):
        create_model("mobilenet_v3_small", weights=path, width_mult=0.5)
    tuned = create_model("mobilenet_v3_small", weights=path, num_classes=10, dropout=0.1)
    assert tuned.config.num_classes == 10 and tuned.config.dropout == 0.1 and tuned.labels is None
