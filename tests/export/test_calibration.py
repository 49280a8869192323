"""export.calibration: which images calibrate, which check, and what a folder's odd entries become."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mobilenets.export.calibration as calibration
from mobilenets.export.calibration import calibration_sets
from mobilenets.export.parity import compare_top1, format_parity
from mobilenets.models.preprocess import PreprocessConfig

PREPROCESS = PreprocessConfig(input_size=(3, 32, 32))


def photo_folder(root: Path, count: int) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(root / f"{index:02d}.png")
    return root


def test_only_the_picked_images_are_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder of phone photos must cost what the sample costs, not what the folder holds."""
    root = photo_folder(tmp_path / "photos", 20)
    decoded: list[Path] = []
    load = calibration.load_image

    def counting(path: Path) -> Image.Image:
        decoded.append(path)
        return load(path)

    monkeypatch.setattr(calibration, "load_image", counting)
    calib, check = calibration_sets(root, PREPROCESS, None, calib_samples=3)
    assert len(check) == 5 and len(calib) == 3  # a quarter of 20 held out, 3 of the rest calibrate
    assert len(decoded) == 8 == len(set(decoded))
    assert calib.inputs.shape == (3, 3, 32, 32) and calib.inputs.dtype == np.float32


def test_entries_that_are_no_image_files_are_listed_as_skipped(tmp_path: Path) -> None:
    root = photo_folder(tmp_path / "photos", 8)
    (root / "folder.jpg").mkdir()
    (root / "broken.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (root / "empty.png").write_bytes(b"")
    calib, check = calibration_sets(root, PREPROCESS, None, calib_samples=256)
    assert len(calib) + len(check) == 8
    skipped = " | ".join(check.skipped)
    assert "folder.jpg: is a folder, not an image file" in skipped
    assert "broken.jpg: broken symbolic link" in skipped
    assert "empty.png" in skipped


def test_a_file_given_as_the_calibration_folder_is_named(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"--calib .*model\.safetensors: is a file, not a folder"):
        calibration_sets(weights, PREPROCESS, None)


@pytest.mark.parametrize(
    ("samples", "warned"), [(1, True), (4, True), (99, True), (100, False), (450, False)]
)
def test_a_check_on_too_few_images_says_it_cannot_show_99_percent(samples: int, warned: bool) -> None:
    """Under 100 images a single differing one already fails 99%, so a pass there shows little."""
    logits = np.eye(2, dtype=np.float32)[np.arange(samples) % 2]
    line = format_parity(compare_top1(logits, logits))
    assert ("cannot show 99% agreement" in line) is warned
    assert f"on {samples} held-out image{'' if samples == 1 else 's'}:" in line
    if warned:
        assert "check on 100 or more" in line
