"""Reading image files robustly: any mode, EXIF orientation, and clear errors for bad files.

Every image the package reads (prediction, training data, calibration) comes through
``load_image``, so a corrupt or hostile file fails the same way everywhere: an
``ImageLoadError`` naming the file and the reason, which callers report and skip.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's own default bound (about 89.5 megapixels): above it an image is treated as a
# decompression bomb, a small file that would expand to gigabytes of memory.
DEFAULT_MAX_PIXELS = 89_478_485
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageLoadError(ValueError):
    """A file that could not be read as an image; ``reason`` says why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open an image file as 8-bit RGB, upright.

    Args:
        path: the file.
        max_pixels: refuse images with more pixels than this (decompression bombs).

    Returns:
        A fully decoded RGB image with EXIF orientation applied.

    Raises:
        ImageLoadError: the file is empty, missing, not an image, truncated, or too large.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(path, "no such file")
    if path.stat().st_size == 0:
        raise ImageLoadError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns (then errors at 2x) above its own limit; we apply ours instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                width, height = opened.size
                if width * height > max_pixels:
                    raise ImageLoadError(
                        path,
                        f"{width}x{height} = {width * height:,} pixels exceeds the limit of "
                        f"{max_pixels:,} (possible decompression bomb)",
                    )
                opened.load()  # decode now, so truncation surfaces here and not later
                image = ImageOps.exif_transpose(opened)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not an image file Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise ImageLoadError(path, f"too many pixels ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageLoadError(path, f"corrupt or truncated image ({error})") from None
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB.

    16- and 32-bit integer images are rescaled by their bit depth; Pillow's own ``convert``
    would clip them at 255 and turn most 16-bit photos white.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        if image.mode == "I" and array.max() > 65535:
            peak = float(2**31 - 1)
        gray = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 if array.max() <= 1.0 else 1.0
        return Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # palette transparency needs an alpha-aware path
    return image.convert("RGB")


def find_images(root: str | Path) -> list[Path]:
    """All files with an image suffix under ``root`` (a file or a folder), sorted."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
