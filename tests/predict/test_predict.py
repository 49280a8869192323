"""``mobilenets predict``: same top-5 as Keras on scikit-image's photos; bad files never stop a run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenets.cli import main
from mobilenets.data.images import load_image
from mobilenets.models.preprocess import preprocess_image
from mobilenets.weights.convert import convert_weights
from mobilenets.weights.file_format import load_model
from tests.keras_reference import build, logits, randomize

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera")  # bundled with scikit-image


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-image's sample photos, written as files (some JPEG, some PNG)."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    for index, name in enumerate(PHOTOS):
        suffix = ".jpg" if index % 2 else ".png"
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}{suffix}")  # camera is grayscale
    return folder


@pytest.mark.parametrize(("family", "alpha", "size"), [("v3_small", 1.0, 224), ("v1", 0.25, 128)])
def test_predict_prints_the_same_top5_as_keras(
    family: str, alpha: float, size: int, photo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = build(family, alpha, size)
    v3 = family.startswith("v3")
    randomize(reference, seed=11, input_range=(0.0, 255.0) if v3 else (-1.0, 1.0))
    src = tmp_path / f"keras_{size}.weights.h5"
    reference.save_weights(src)
    converted = tmp_path / "model.safetensors"
    convert_weights(src, converted, arch=f"mobilenet_{family}_{alpha}_{size}")

    out = tmp_path / "predictions.json"
    assert (
        main(
            ["predict", str(photo_dir), "--weights", str(converted), "--json", str(out), "--batch-size", "2"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    results = {Path(r["path"]).stem: r for r in json.loads(out.read_text())["results"]}
    assert set(results) == set(PHOTOS)

    model = load_model(converted)
    for name in PHOTOS:
        path = next(photo_dir.glob(f"{name}.*"))
        # The same preprocessed input for Keras: our tensor in [-1, 1], as NHWC; Keras V3
        # rescales inside the model, so it gets the [0, 255] pixels that map to it.
        tensor = preprocess_image(load_image(path), model.preprocess)
        nhwc = tensor.permute(1, 2, 0).unsqueeze(0).numpy()
        keras_logits = logits(reference, (nhwc + 1.0) * 127.5 if v3 else nhwc)[0]
        keras_top5 = [int(i) for i in np.argsort(-keras_logits)[:5]]
        ours = [entry["index"] for entry in results[name]["top"]]
        assert ours == keras_top5, f"{name}: mobilenets {ours} vs Keras {keras_top5}"
        assert results[name]["top"][0]["label"] in printed
        keras_probabilities = torch.from_numpy(keras_logits).softmax(0)[keras_top5].numpy()
        ours_probabilities = np.array([entry["probability"] for entry in results[name]["top"]])
        np.testing.assert_allclose(ours_probabilities, keras_probabilities, rtol=1e-4)


def _save_exif_rotated(path: Path, image: Image.Image) -> None:
    exif = image.getexif()
    exif[0x0112] = 6  # displayed rotated 90° clockwise
    image.save(path, exif=exif, quality=95)


def make_awkward_files(folder: Path) -> dict[str, Path]:
    """Good-but-awkward and bad files, made here (no fixtures on disk)."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    files = {name: folder / name for name in (
        "cmyk.jpg", "gray16.png", "rgba.png", "palette.gif", "gray.png", "exif_rotated.jpg", "upright.jpg",
        "truncated.jpg", "empty.png", "not_an_image.png", "bomb.png",
    )}  # fmt: skip
    photo.convert("CMYK").save(files["cmyk.jpg"])
    gray16 = (rng.integers(0, 65535, (80, 90))).astype(np.uint16)
    Image.fromarray(gray16).save(files["gray16.png"])
    with Image.open(files["gray16.png"]) as check:
        assert check.mode.startswith("I")
    photo.convert("RGBA").save(files["rgba.png"])
    photo.convert("P").save(files["palette.gif"], transparency=0)
    photo.convert("L").save(files["gray.png"])
    _save_exif_rotated(files["exif_rotated.jpg"], photo)
    photo.rotate(-90, expand=True).save(files["upright.jpg"], quality=95)
    photo.save(folder / "full.jpg")
    files["truncated.jpg"].write_bytes((folder / "full.jpg").read_bytes()[:600])
    (folder / "full.jpg").unlink()
    files["empty.png"].write_bytes(b"")
    files["not_an_image.png"].write_text("this is text, not a PNG\n")
    # 10000 x 10000 1-bit pixels: a 100-megapixel image in a few kB, above Pillow's ~89.5 MP limit.
    Image.new("1", (10_000, 10_000)).save(files["bomb.png"])
    return files


BAD = {
    "truncated.jpg": "truncated",
    "empty.png": "empty file",
    "not_an_image.png": "not an image",
    "bomb.png": "decompression bomb",
}


def test_bad_files_get_one_line_errors_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = make_awkward_files(tmp_path)
    weights = tmp_path / "tiny.safetensors"
    from mobilenets import create_model, save_weights

    torch.manual_seed(0)
    save_weights(create_model("mobilenet_v1_0.25_128"), weights)
    out_csv, out_json = tmp_path / "out.csv", tmp_path / "out.json"
    images = [str(p) for p in files.values()] + [str(tmp_path / "missing.jpg")]
    code = main(["predict", *images, "--weights", str(weights), "--csv", str(out_csv), "--batch-size", "3"])
    captured = capsys.readouterr()
    assert code == 1  # some files failed
    error_lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
    for name, reason in BAD.items():
        (line,) = [line for line in captured.err.splitlines() if name in line]  # named once
        assert line in error_lines and reason in line
    assert any("missing.jpg" in line for line in error_lines)
    summary = captured.err.strip().splitlines()[-1]
    assert "12 inputs: 7 classified, 5 failed" in summary and str(out_csv) in summary

    with out_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    failed = {Path(r["path"]).name: r["error"] for r in rows if r["ok"] == "false"}
    assert set(failed) == {*BAD, "missing.jpg"}
    ok_rows = [r for r in rows if r["ok"] == "true"]
    assert {Path(r["path"]).name for r in ok_rows} == set(files) - set(BAD)
    assert len(ok_rows) == 7 * 5  # top-5 for each good file

    # JSON holds the same, and EXIF orientation was applied: the EXIF-rotated JPEG classifies
    # like the physically rotated one (same pixels up to JPEG noise), not like the raw one.
    assert main(["predict", *images[:7], "--weights", str(weights), "--json", str(out_json)]) == 0
    capsys.readouterr()
    results = {Path(r["path"]).name: r for r in json.loads(out_json.read_text())["results"]}
    rotated, upright = results["exif_rotated.jpg"]["top"], results["upright.jpg"]["top"]
    assert [e["index"] for e in rotated][:3] == [e["index"] for e in upright][:3]


def test_exif_rotation_reaches_the_model_input(tmp_path: Path) -> None:
    image = Image.new("RGB", (60, 30), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 30, 30))  # left half blue: orientation is visible
    _save_exif_rotated(tmp_path / "r.jpg", image)
    loaded = load_image(tmp_path / "r.jpg")
    assert loaded.size == (30, 60)  # rotated to portrait
    top, bottom = np.asarray(loaded)[5, 15], np.asarray(loaded)[55, 15]
    assert top[2] > 200 and bottom[0] > 200  # 90° clockwise: the blue left half is now on top


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(tmp_path), "--weights", "nonsense"]) == 2
    assert (
        "nonsense: no such file; check the path of the weights file, or give a model name "
        "(with official weights: a model name and one of torchvision, timm, keras)"
        in (capsys.readouterr().err)
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(tmp_path), "--weights", "x", "--json", "a", "--csv", "b"])
    assert exit_info.value.code == 2


def test_a_folder_that_cannot_be_listed_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mobilenets.predict.classify import collect_inputs
    from tests.data.test_data import refuse_listing

    locked = tmp_path / "locked"
    locked.mkdir()
    Image.new("RGB", (8, 8)).save(locked / "x.jpg")
    refuse_listing(monkeypatch, locked)
    paths, failures = collect_inputs([locked])
    assert paths == [] and len(failures) == 1
    assert failures[0].error == "permission denied (make the folder readable, e.g. chmod a+rx)"
