"""Image reading: every mode becomes upright RGB, and bad files fail with a clear reason."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenets.data.images import ImageLoadError, find_images, load_image
from mobilenets.models.preprocess import PreprocessConfig, preprocess_image


def test_cmyk_16bit_rgba_palette_become_rgb(tmp_path: Path) -> None:
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")  # pure red in CMYK
    sixteen = Image.fromarray(np.full((30, 40), 65535 // 2, dtype=np.uint16))
    sixteen.save(tmp_path / "gray16.png")
    Image.new("RGBA", (40, 30), (0, 0, 255, 128)).save(tmp_path / "rgba.png")
    Image.new("P", (40, 30)).save(tmp_path / "palette.gif")
    for name in ("cmyk.jpg", "gray16.png", "rgba.png", "palette.gif"):
        image = load_image(tmp_path / name)
        assert image.mode == "RGB" and image.size == (40, 30)
    red = np.asarray(load_image(tmp_path / "cmyk.jpg"))[15, 20]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    # Mid-gray in 16 bits is mid-gray in 8 bits, not clipped to white.
    assert abs(int(np.asarray(load_image(tmp_path / "gray16.png"))[0, 0, 0]) - 128) <= 1


def test_32bit_integer_and_float_tiffs_keep_their_picture(tmp_path: Path) -> None:
    # A 32-bit scan with values up to 200,000: no bit depth says where white is. Dividing by
    # 2**31 made it black; its own brightest pixel is white, and its gradient survives.
    ramp = np.linspace(0, 200_000, 40 * 30).reshape(30, 40)
    Image.fromarray(ramp.astype(np.int32)).save(tmp_path / "int32.tif")
    Image.fromarray((ramp / 100).astype(np.float32)).save(tmp_path / "float32.tif")  # up to 2,000
    Image.fromarray((ramp / 200_000).astype(np.float32)).save(tmp_path / "unit.tif")  # 0..1
    for name in ("int32.tif", "float32.tif", "unit.tif"):
        gray = np.asarray(load_image(tmp_path / name))[..., 0].astype(int)
        assert gray[0, 0] == 0 and gray[-1, -1] == 255, name
        assert abs(gray[15, 20] - 255 * ramp[15, 20] / 200_000) <= 1.5, name


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").size == (20, 40)


def test_bad_files_name_the_reason(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    Image.new("RGB", (64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    Image.new("L", (200, 200)).save(tmp_path / "big.png")
    cases = {
        "empty.jpg": "empty file",
        "text.jpg": "not an image",
        "truncated.png": "corrupt or truncated",
        "missing.png": "no such file",
    }
    for name, reason in cases.items():
        with pytest.raises(ImageLoadError, match=reason):
            load_image(tmp_path / name)
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(tmp_path / "big.png", max_pixels=10_000)


def test_find_images_filters_suffixes(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "sub" / "a.png")
    (tmp_path / "notes.txt").write_text("x")
    assert find_images(tmp_path) == [tmp_path / "sub" / "a.png"]


def test_preprocess_resizes_short_side_and_center_crops() -> None:
    # A 512x256 image whose left and right quarters are black and middle half white:
    # resize to 256 short side -> 512x256, crop center 224 -> all white.
    array = np.zeros((256, 512, 3), dtype=np.uint8)
    array[:, 128:384] = 255
    tensor = preprocess_image(Image.fromarray(array), PreprocessConfig(mean=(0, 0, 0), std=(1, 1, 1)))
    assert tensor.shape == (3, 224, 224)
    torch.testing.assert_close(tensor[:, 16:-16, 16:-16].min(), torch.tensor(1.0))
    normalized = preprocess_image(Image.fromarray(array), PreprocessConfig())
    expected = (1.0 - 0.485) / 0.229
    assert abs(normalized[0, 112, 112].item() - expected) < 1e-5
