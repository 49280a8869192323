"""Images for int8 calibration and for the agreement check, from a folder or the digits set.

Calibration and the agreement check must not share images: quantization ranges fitted to the
very images they are judged on would flatter the int8 model. Both sources are therefore split
into a calibration part and a held-out part, deterministically, unless the user names a folder
of their own to check on (``--held-out``, as one calibrates on a training split and judges on
the validation split).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mobilenets.data.digits import CLASS_NAMES, split_digits
from mobilenets.data.images import ImageLoadError, load_image, scan_images
from mobilenets.models.preprocess import PreprocessConfig, preprocess_image

DIGITS = "digits"
SPLIT_SEED = 0
# Calibration runs a few images at a time: a whole set at 224 px through a network with
# observers would need gigabytes at once.
CALIBRATION_BATCH = 16


def calibration_batches(calibration: np.ndarray) -> Iterator[torch.Tensor]:
    """``calibration`` (N, C, H, W) as float tensors of at most ``CALIBRATION_BATCH`` images."""
    for start in range(0, len(calibration), CALIBRATION_BATCH):
        yield torch.from_numpy(np.ascontiguousarray(calibration[start : start + CALIBRATION_BATCH]))


@dataclass(frozen=True)
class ImageSet:
    """Preprocessed images, ready for a network.

    Args:
        inputs: (N, C, H, W) float32, normalized as the model expects.
        labels: (N,) class indices into the model's labels, or ``None`` when unknown.
        skipped: files that could not be read, with the reason.
        source: where the images came from, in words.
    """

    inputs: np.ndarray
    labels: np.ndarray | None
    skipped: tuple[str, ...] = ()
    source: str = ""

    def __len__(self) -> int:
        return len(self.inputs)


def _stack(images: list[Image.Image], preprocess: PreprocessConfig) -> np.ndarray:
    if not images:
        return np.zeros((0, *preprocess.input_size), dtype=np.float32)
    return np.stack([preprocess_image(image, preprocess).numpy() for image in images]).astype(np.float32)


def digits_sets(
    preprocess: PreprocessConfig,
    labels: list[str] | None,
    calib_samples: int,
    held_out_samples: int | None = None,
) -> tuple[ImageSet, ImageSet]:
    """Calibration images from the digits' training split, the check on its held-out split.

    Args:
        preprocess: the model's preprocessing (the 32 px digits are resized to its input).
        labels: the model's class names; when they are the digits' '0'..'9', the held-out set
            carries labels so accuracies can be reported.
        calib_samples: how many training images calibrate.
        held_out_samples: how many held-out images to check on (``None``: all 450).

    Returns:
        ``(calibration, held_out)``.
    """

    train, held = split_digits(size=32)
    rng = np.random.default_rng(SPLIT_SEED)
    calib_idx = rng.permutation(len(train.labels))[:calib_samples]
    held_idx = np.arange(len(held.labels))[:held_out_samples]
    to_pil = lambda array: Image.fromarray(array)  # noqa: E731
    calibration = ImageSet(
        _stack([to_pil(train.images[i]) for i in calib_idx], preprocess), None, source="digits (train split)"
    )
    known = labels is not None and list(labels) == CLASS_NAMES
    check = ImageSet(
        _stack([to_pil(held.images[i]) for i in held_idx], preprocess),
        held.labels[held_idx] if known else None,
        source="digits (held-out split)",
    )
    return calibration, check


@dataclass
class _FolderImages:
    """Images read from a folder, each preprocessed as soon as it is decoded.

    Only the model-sized arrays are kept, never the decoded photos, so a folder of 12-megapixel
    pictures costs what its inputs cost, and only the files that are picked are decoded.
    """

    arrays: list[np.ndarray] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)  # label index, -1: none

    def stacked(self, preprocess: PreprocessConfig) -> np.ndarray:
        if not self.arrays:
            return np.zeros((0, *preprocess.input_size), dtype=np.float32)
        return np.stack(self.arrays).astype(np.float32)

    def labels(self) -> np.ndarray | None:
        """The labels when every image has one, else ``None``."""
        return np.array(self.targets) if self.targets and all(t >= 0 for t in self.targets) else None


def _listed_files(root: str | Path, shuffled: bool) -> tuple[list[Path], list[str]]:
    """The image files under ``root`` (sorted, or in a fixed random order), and the entries that
    are no files, as 'path: reason' lines."""
    files, others = scan_images(root)
    if shuffled:
        files = [files[i] for i in np.random.default_rng(SPLIT_SEED).permutation(len(files))]
    return files, [f"{path}: {reason}" for path, reason in others.items()]


def _read_into(
    files: Iterator[Path],
    wanted: int | None,
    preprocess: PreprocessConfig,
    labels: list[str] | None,
    skipped: list[str],
) -> _FolderImages:
    """Read from ``files`` until ``wanted`` images decode (``None``: all), listing the unreadable.

    A file whose parent folder is named like one of the model's labels (the ImageFolder layout)
    is labelled, so accuracies can be reported.
    """
    index = {name: i for i, name in enumerate(labels or [])}
    read = _FolderImages()
    while wanted is None or len(read.arrays) < wanted:  # checked before a file is taken from ``files``
        path = next(files, None)
        if path is None:
            break
        try:
            image = load_image(path)
        except ImageLoadError as error:
            skipped.append(str(error))
            continue
        read.arrays.append(preprocess_image(image, preprocess).numpy())
        read.targets.append(index.get(path.parent.name, -1))
    return read


def folder_sets(
    root: str | Path,
    preprocess: PreprocessConfig,
    labels: list[str] | None,
    calib_samples: int,
    held_out_fraction: float = 0.25,
) -> tuple[ImageSet, ImageSet]:
    """Calibration and held-out images from a folder of the user's own images.

    The files are shuffled with a fixed seed; ``held_out_fraction`` of them (at least one) are
    kept for the agreement check and up to ``calib_samples`` of the rest calibrate. Files in
    class folders are labelled (see ``_read_into``); unreadable files are skipped and listed.

    Raises:
        ValueError: the folder holds fewer than two readable images.
    """
    files, skipped = _listed_files(root, shuffled=True)
    held_count = max(1, round(len(files) * held_out_fraction))
    remaining = iter(files)
    held = _read_into(remaining, held_count, preprocess, labels, skipped)
    calibration = _read_into(remaining, calib_samples, preprocess, labels, skipped)
    if not held.arrays or not calibration.arrays:
        found = len(held.arrays) + len(calibration.arrays)
        raise ValueError(
            f"--calib {root}: found {found} readable image{'' if found == 1 else 's'}; calibration "
            "needs at least 2 (some for calibration, some held out to check agreement)"
        )
    return (
        ImageSet(calibration.stacked(preprocess), None, tuple(skipped), f"{root} (calibration part)"),
        ImageSet(held.stacked(preprocess), held.labels(), tuple(skipped), f"{root} (held-out part)"),
    )


def separate_sets(
    calib_root: str | Path,
    held_out_root: str | Path,
    preprocess: PreprocessConfig,
    labels: list[str] | None,
    calib_samples: int,
) -> tuple[ImageSet, ImageSet]:
    """Up to ``calib_samples`` images of ``calib_root`` calibrate; every image of ``held_out_root`` checks.

    Raises:
        ValueError: either folder holds no readable image, or they are the same folder.
    """
    if Path(calib_root).resolve() == Path(held_out_root).resolve():
        raise ValueError(
            f"--held-out {held_out_root}: is the --calib folder; give images calibration does not "
            "see (or leave --held-out out to hold out a quarter of --calib)"
        )
    calib_files, calib_skipped = _listed_files(calib_root, shuffled=True)
    calibration = _read_into(iter(calib_files), calib_samples, preprocess, labels, calib_skipped)
    held_files, held_skipped = _listed_files(held_out_root, shuffled=False)  # all of it, in order
    held = _read_into(iter(held_files), None, preprocess, labels, held_skipped)
    for flag, root, images in (("--calib", calib_root, calibration), ("--held-out", held_out_root, held)):
        if not images.arrays:
            raise ValueError(f"{flag} {root}: found no readable image; give a folder of images")
    return (
        ImageSet(calibration.stacked(preprocess), None, tuple(calib_skipped), str(calib_root)),
        ImageSet(held.stacked(preprocess), held.labels(), tuple(held_skipped), str(held_out_root)),
    )


def require_calib_for_held_out(calib: str | Path | None, held_out: str | Path | None) -> None:
    """``--held-out`` only says where to check; the images that calibrate still come from ``--calib``."""
    if held_out is not None and calib is None:
        raise ValueError(f"--held-out {held_out}: needs --calib DIR, the images that calibrate")


def calibration_sets(
    source: str | Path,
    preprocess: PreprocessConfig,
    labels: list[str] | None,
    calib_samples: int = 256,
    held_out: str | Path | None = None,
) -> tuple[ImageSet, ImageSet]:
    """Calibration images from ``source`` ('digits' or a folder) and the images to check on.

    With ``held_out`` (a folder), every image there is checked on and calibration may use all of
    ``source``; without it, ``source`` is split (``digits_sets``, ``folder_sets``).
    """
    for flag, folder in (("--calib", source), ("--held-out", held_out)):
        if folder is None or str(folder) == DIGITS:
            continue
        if not Path(folder).exists():
            raise ValueError(f"{flag} {folder}: no such folder (pass a folder of images or 'digits')")
        if not Path(folder).is_dir():
            raise ValueError(f"{flag} {folder}: is a file, not a folder; pass a folder of images or 'digits'")
    if held_out is not None:
        if DIGITS in (str(source), str(held_out)):
            raise ValueError(
                f"--held-out {held_out} with --calib {source}: 'digits' brings its own held-out "
                "split; give two folders, or leave --held-out out"
            )
        return separate_sets(source, held_out, preprocess, labels, calib_samples)
    if str(source) == DIGITS:
        return digits_sets(preprocess, labels, calib_samples)
    return folder_sets(source, preprocess, labels, calib_samples)
