"""Reading image files robustly: any mode, EXIF orientation, and clear errors for bad files.

Every image the package reads (prediction, training data, calibration) comes through
``load_image``, so a corrupt or hostile file fails the same way everywhere: an
``ImageLoadError`` naming the file and the reason, which callers report and skip.
"""

from __future__ import annotations

import errno
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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


def not_a_file_reason(path: Path) -> str | None:
    """Why ``path`` cannot be an image file (missing, a folder, a broken link), or None."""
    if path.is_file():
        return None
    if path.is_symlink() and not path.exists():
        return f"broken symbolic link (to {os.readlink(path)})"
    if path.is_dir():
        return "is a folder, not an image file"
    if path.exists():
        return "not a regular file"
    return "no such file"


# Pillow refuses images above 2 x Image.MAX_IMAGE_PIXELS with an error of its own, whatever the
# caller allows. Its check is switched off while a header is read, and ours (``max_pixels``,
# from the same header, before any pixel is decoded) applies instead, so --max-pixels can go
# above Pillow's. The setting is process-wide: threads reading headers at once share one
# switch-off, counted, and the last one out puts Pillow's limit back.
_PILLOW_LIMIT_LOCK = threading.Lock()
_pillow_limit_users = 0
_pillow_limit_saved: int | None = None


@contextmanager
def _without_pillow_limit() -> Iterator[None]:
    global _pillow_limit_users, _pillow_limit_saved
    with _PILLOW_LIMIT_LOCK:
        if _pillow_limit_users == 0:
            _pillow_limit_saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _pillow_limit_users += 1
    try:
        yield
    finally:
        with _PILLOW_LIMIT_LOCK:
            _pillow_limit_users -= 1
            if _pillow_limit_users == 0:
                Image.MAX_IMAGE_PIXELS = _pillow_limit_saved


def _open_checked(path: Path, max_pixels: int) -> Image.Image:
    """``Image.open`` (header only) with the size checked against ``max_pixels``."""
    with _without_pillow_limit(), warnings.catch_warnings():
        # Pillow warns about some damaged headers (corrupt EXIF, ...) and then reads or fails;
        # the outcome is what counts, and a warning would be a second line about the same file.
        warnings.simplefilter("ignore")
        opened = Image.open(path)
    width, height = opened.size
    if width * height > max_pixels:
        opened.close()
        raise ImageLoadError(
            path,
            f"{width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} "
            "(possible decompression bomb; if the image is genuine, downscale it, or with "
            "mobilenets predict raise --max-pixels)",
        )
    return opened


def system_reason(error: OSError, folder: bool = False) -> str | None:
    """A reason for an operating-system error (permission denied, I/O error), not a decoding one.

    Args:
        error: the error, from reading a file or listing a ``folder``.
    """
    if error.errno is None:
        return None  # Pillow's own decoding errors carry no errno
    what, mode = ("folder", "a+rx") if folder else ("file", "a+r")
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied (make the {what} readable, e.g. chmod {mode})"
    return f"cannot {'list' if folder else 'read'} the {what} ({os.strerror(error.errno).lower()})"


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open an image file as 8-bit RGB, upright.

    Args:
        path: the file.
        max_pixels: refuse images with more pixels than this (decompression bombs).

    Returns:
        A fully decoded RGB image with EXIF orientation applied.

    Raises:
        ImageLoadError: the file is empty, missing, unreadable (permissions), not an image,
            truncated, or too large.
    """
    path = Path(path)
    problem = not_a_file_reason(path)
    if problem:
        raise ImageLoadError(path, problem)
    if path.stat().st_size == 0:
        raise ImageLoadError(path, "empty file (0 bytes)")
    try:
        # Pillow warns about some damaged files (corrupt EXIF, ...) and then decodes or fails;
        # the outcome is what counts, and a warning would be a second line about the same file.
        with warnings.catch_warnings(), _open_checked(path, max_pixels) as opened:
            warnings.simplefilter("ignore")
            opened.load()  # decode now, so truncation surfaces here and not later
            image = ImageOps.exif_transpose(opened)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not an image file Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise ImageLoadError(path, f"too many pixels ({error})") from None
    except OSError as error:
        reason = system_reason(error) or f"corrupt or truncated image ({error})"
        raise ImageLoadError(path, reason) from None
    except (SyntaxError, ValueError, EOFError) as error:
        raise ImageLoadError(path, f"corrupt or truncated image ({error})") from None
    return to_rgb(image)


def probe_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """Why ``path`` cannot be read as an image, from its header alone; None if it looks fine.

    Much cheaper than decoding (a few kilobytes read), so a whole dataset can be checked before
    training. A file whose header is fine but whose data is truncated passes; it is found, and
    skipped, when it is decoded.
    """
    path = Path(path)
    problem = not_a_file_reason(path)
    if problem:
        return problem
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _open_checked(path, max_pixels).close()
        return None
    except ImageLoadError as error:
        return error.reason
    except UnidentifiedImageError:
        return "not an image file Pillow can read"
    except Image.DecompressionBombError as error:
        return f"too many pixels ({error})"
    except OSError as error:
        return system_reason(error) or f"corrupt image header ({error})"
    except (SyntaxError, ValueError, EOFError) as error:
        return f"corrupt image header ({error})"


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB.

    16-bit integer images are rescaled by their bit depth; Pillow's own ``convert`` would clip
    them at 255 and turn most 16-bit photos white. A 32-bit integer or float image whose values
    go beyond 16 (or 8) bits has no standard white: dividing by 2**31 turned such scans black,
    so it is scaled by its own brightest pixel, as image viewers show 32-bit data.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        if image.mode == "I" and array.max() > 65535:
            peak = float(array.max())
        gray = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode == "F":
        array = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(array.max()) if array.size else 0.0
        scale = 255.0 if top <= 1.0 else 1.0 if top <= 255.0 else 255.0 / top
        return Image.fromarray(np.clip(array * scale + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # palette transparency needs an alpha-aware path
    return image.convert("RGB")


def find_images(root: str | Path) -> list[Path]:
    """All files with an image suffix under ``root`` (a file or a folder), sorted."""
    return scan_images(root)[0]


def scan_images(root: str | Path) -> tuple[list[Path], dict[Path, str]]:
    """Entries with an image suffix under ``root``, split into files and the rest.

    Returns:
        ``(files, not_files)``: the image files, sorted, and every entry with an image suffix
        that is not a readable file (a broken link, a folder named ``x.jpg``) with the reason,
        so that nothing is skipped without a word.

    Raises:
        OSError: ``root`` is a folder that cannot be listed (permission denied), naming it.
    """
    root = Path(root)
    if root.is_file():
        return [root], {}
    # rglob takes a folder it cannot list for an empty one, and "no images" would send the user
    # looking for the wrong problem: the system's refusal, naming the folder, goes out instead.
    with os.scandir(root):
        pass
    files: list[Path] = []
    others: dict[Path, str] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        problem = not_a_file_reason(path)
        if problem:
            others[path] = problem
        else:
            files.append(path)
    return files, others
