"""Training and evaluation data: an ImageFolder layout or the built-in digits, with pre-flight checks.

Every dataset here yields ``(image, label)`` with ``image`` a float tensor (3, H, W) in [0, 1]:
resizing happens per image (it needs the file's own size), while normalization and augmentation
happen per batch on the training device (``augment.py``), where they are cheap.

All the ways a data folder can be wrong are checked before a single step runs, with an error
that names the problem and the fix (``DataError``). An unreadable image found later, while
training, is reported with its path and reason and skipped.
"""

from __future__ import annotations

import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mobilenets.data.digits import CLASS_NAMES, HELD_OUT_FRACTION, SPLIT_SEED, split_digits
from mobilenets.data.images import IMAGE_SUFFIXES, ImageLoadError, load_image, probe_image, scan_images
from mobilenets.models.preprocess import PreprocessConfig, preprocess_image
from mobilenets.printable import printable

DIGITS = "digits"  # the name that selects the built-in dataset instead of a folder


class DataError(ValueError):
    """A dataset that cannot be trained on; the message names the problem and the fix."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


class ImageFolder(Dataset):
    """Images in one sub-folder per class (``root/cat/1.jpg``), resized and center-cropped.

    An image that fails to load comes back as ``Unreadable``; ``collate_skipping`` drops it from
    the batch and the loader (``ReportingLoader``) has it recorded in ``skipped`` and named once
    on stderr, in the main process even when workers load the images.

    Args:
        samples: (path, class index) pairs.
        classes: class names, in index order.
        size: output height and width.
        crop_pct: fraction of the resized short side kept by the center crop (1.0: keep it all).
    """

    def __init__(self, samples: Sequence[Sample], classes: list[str], size: int, crop_pct: float = 1.0):
        self.samples = list(samples)
        self.classes = classes
        # mean 0, std 1: only the geometry of the evaluation transform; the step normalizes.
        self.geometry = PreprocessConfig(
            input_size=(3, size, size), mean=(0.0,) * 3, std=(1.0,) * 3, crop_pct=crop_pct
        )
        self.skipped: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int]:
        return [s.label for s in self.samples]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | Unreadable:
        sample = self.samples[index]
        try:
            image = load_image(sample.path)
        except ImageLoadError as error:
            # Reported by the loader in the main process: a worker's own ``skipped`` would be lost.
            return Unreadable(error.path, error.reason)
        return preprocess_image(image, self.geometry), sample.label  # (3, H, W) in [0, 1]

    def note_unreadable(self, path: str, reason: str) -> None:
        """Record an image that failed to decode, and name it once on stderr."""
        if path not in self.skipped:
            self.skipped[path] = reason
            print(f"skipping unreadable image {printable(path)}: {reason}", file=sys.stderr, flush=True)


class ArrayDataset(Dataset):
    """In-memory uint8 images (N, H, W, 3) and labels (N,), e.g. the built-in digits."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: list[str]):
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W) uint8
        self.labels = torch.from_numpy(labels).long()
        self.classes = classes
        self.skipped: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def targets(self) -> list[int]:
        return self.labels.tolist()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].float() / 255.0, int(self.labels[index])


@dataclass(frozen=True)
class Unreadable:
    """An item whose image failed to decode: travels from a loader worker to the main process."""

    path: str
    reason: str


def collate_skipping(
    batch: list[tuple[torch.Tensor, int] | Unreadable | None],
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]]]:
    """Stack a batch, leaving out the items that failed to load, and list those."""
    unreadable = [(item.path, item.reason) for item in batch if isinstance(item, Unreadable)]
    kept = [item for item in batch if item is not None and not isinstance(item, Unreadable)]
    if not kept:
        return torch.empty(0, 3, 1, 1), torch.empty(0, dtype=torch.long), unreadable
    images = torch.stack([image for image, _ in kept])  # (B, 3, H, W)
    labels = torch.tensor([label for _, label in kept], dtype=torch.long)  # (B,)
    return images, labels, unreadable


class ReportingLoader(DataLoader):
    """A DataLoader of ``(images, labels)`` that reports the unreadable images of each batch.

    Workers are separate processes: what they record is lost with them. So each batch carries
    its unreadable images to the main process, where the dataset records and names them.
    """

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # type: ignore[override]
        for images, labels, unreadable in super().__iter__():
            for path, reason in unreadable:
                note = getattr(self.dataset, "note_unreadable", None)
                if note is not None:
                    note(path, reason)
            yield images, labels


def _worker_init(worker_id: int) -> None:
    """In loader workers, ignore Ctrl-C: it reaches the whole process group, the main process
    alone handles it (and stops the workers), and a worker interrupted mid-exit prints tracebacks.

    The main process may also stop mid-way through receiving a batch, whose tensors a worker
    hands over through a background thread of ``multiprocessing.resource_sharer``. That thread
    then meets a closed connection and prints a traceback through ``sys.excepthook``, under the
    command's one-line message. A lost connection to the main process is no news in a worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    default = sys.excepthook

    def quiet_when_disconnected(
        kind: type[BaseException], error: BaseException, trace: TracebackType | None
    ) -> None:
        if not issubclass(kind, EOFError | ConnectionError | BrokenPipeError):
            default(kind, error, trace)

    sys.excepthook = quiet_when_disconnected


# -- finding and checking the data ----------------------------------------------------------------
# Header checks are I/O-bound (a few kilobytes per file): threads overlap the waits.
PROBE_THREADS = 16


def class_folders(root: Path, unreadable: dict[str, str] | None = None) -> dict[str, list[Path]]:
    """Class name -> its readable image files, for every sub-folder of ``root``.

    Every file is checked from its header first (``images.probe_image``): a dataset's image
    count is the count of images that can be read.

    Args:
        root: the folder of class folders.
        unreadable: if given, receives 'path -> reason' for every entry with an image suffix
            that cannot be read (not an image, empty, permission denied, a broken link, a
            folder named like an image), so none is dropped without a word.
    """
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    found: dict[str, list[Path]] = {}
    for folder in folders:
        files, not_files = scan_images(folder)  # a folder it cannot list: the system's refusal
        found[folder.name] = files
        if unreadable is not None:
            unreadable.update({str(path): reason for path, reason in not_files.items()})
    every = [path for files in found.values() for path in files]
    # warnings.catch_warnings is not thread-safe: a probe leaving it restores the filters another
    # probe still relies on, so Pillow's warnings about damaged headers are silenced here, once,
    # in this thread, for the whole pool.
    with warnings.catch_warnings(), ThreadPoolExecutor(PROBE_THREADS) as pool:
        warnings.simplefilter("ignore")
        reasons = dict(zip(every, pool.map(probe_image, every), strict=True))
    bad = {path: reason for path, reason in reasons.items() if reason is not None}
    if unreadable is not None:
        unreadable.update({str(path): reason for path, reason in bad.items()})
    return {name: [p for p in files if p not in bad] for name, files in found.items()}


def unreadable_note(unreadable: dict[str, str]) -> str:
    """' (N unreadable files skipped)' for a dataset description, or ''."""
    return f" ({len(unreadable)} unreadable files skipped)" if unreadable else ""


def check_classes(
    root: Path, classes: dict[str, list[Path]], unreadable: dict[str, str] | None = None
) -> None:
    """Refuse a folder without at least two classes of readable images (names the fix)."""
    if unreadable and not any(classes.values()):
        first, reason = next(iter(unreadable.items()))
        raise DataError(
            f"{root}: none of its {len(unreadable)} image files can be read (e.g. {first}: "
            f"{reason}); nothing to train or evaluate on. Check the files, or point --data at "
            "another folder."
        )
    if not classes:
        raise DataError(
            f"{root} has no class folders; put each class's images in its own sub-folder "
            f"({root}/CLASS_NAME/image.jpg)."
        )
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise DataError(
            f"class folder(s) {', '.join(str(root / n) for n in empty)} contain no readable images "
            f"(suffixes {', '.join(IMAGE_SUFFIXES)}); add images or remove the folder(s)."
        )
    if len(classes) < 2:
        raise DataError(f"{root} has only the class {next(iter(classes))!r}; a classifier needs at least 2.")


def _stratified_split(
    files: dict[str, list[Path]], val_fraction: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    rng = np.random.default_rng(seed)
    train: list[Sample] = []
    val: list[Sample] = []
    for label, name in enumerate(sorted(files)):
        paths = files[name]
        order = rng.permutation(len(paths))
        n_val = max(1, round(len(paths) * val_fraction)) if len(paths) > 1 else 0
        val += [Sample(paths[i], label) for i in order[:n_val]]
        train += [Sample(paths[i], label) for i in order[n_val:]]
    return train, val


@dataclass
class DataSplits:
    """The datasets of one run."""

    train: ArrayDataset | ImageFolder
    val: ArrayDataset | ImageFolder
    classes: list[str]
    description: str
    unreadable: dict[str, str] = field(default_factory=dict)  # path -> reason, found before training


def build_datasets(
    data: str,
    resolution: int,
    val_fraction: float = 0.2,
    seed: int = 0,
    crop_pct: float = 0.875,
) -> DataSplits:
    """Find, check and open the training and validation data.

    Args:
        data: ``'digits'`` for the built-in dataset, or a folder holding either ``train/`` and
            ``val/`` (each with one sub-folder per class) or the class folders themselves.
        resolution: image size fed to the network.
        val_fraction: share of each class held out for validation when there is no ``val/``.
        seed: seed of that split.
        crop_pct: center-crop fraction for validation images (training keeps the whole image,
            and random resized crop chooses the region).

    Returns:
        The train and validation datasets and the class names.

    Raises:
        DataError: the folder is missing, has no or empty class folders, or train and val
            disagree on the classes.
    """
    if data == DIGITS:
        train, held_out = split_digits(resolution)
        return DataSplits(
            ArrayDataset(train.images, train.labels, CLASS_NAMES),
            ArrayDataset(held_out.images, held_out.labels, CLASS_NAMES),
            CLASS_NAMES,
            f"built-in digits at {resolution} px: {len(train.labels)} train / {len(held_out.labels)} "
            f"held out ({HELD_OUT_FRACTION:.0%}, stratified, seed {SPLIT_SEED})",
        )
    root = Path(data)
    if not root.is_dir():
        raise DataError(
            f"data directory {root} does not exist; pass an ImageFolder path (one sub-folder per "
            f"class, optionally under train/ and val/) or --data {DIGITS} for the built-in dataset."
        )
    unreadable: dict[str, str] = {}
    if (root / "train").is_dir():
        classes, train_samples, val_samples, how = _split_folders(root, unreadable)
    else:
        classes, train_samples, val_samples, how = _held_out_split(root, val_fraction, seed, unreadable)
    return DataSplits(
        ImageFolder(train_samples, classes, resolution, crop_pct=1.0),
        ImageFolder(val_samples, classes, resolution, crop_pct=crop_pct),
        classes,
        f"{how}: {len(classes)} classes, {len(train_samples)} train / {len(val_samples)} val "
        f"readable images{unreadable_note(unreadable)}",
        unreadable,
    )


def _split_folders(
    root: Path, unreadable: dict[str, str]
) -> tuple[list[str], list[Sample], list[Sample], str]:
    """A ``train/`` + ``val/`` layout: both checked, with the same classes."""
    if not (root / "val").is_dir():
        raise DataError(f"{root}/train exists but {root}/val does not; add val/ or drop the train/ level.")
    train_files = class_folders(root / "train", unreadable)
    val_files = class_folders(root / "val", unreadable)
    check_classes(root / "train", train_files, unreadable)
    check_classes(root / "val", val_files, unreadable)
    if set(train_files) != set(val_files):
        only_train = sorted(set(train_files) - set(val_files))
        only_val = sorted(set(val_files) - set(train_files))
        raise DataError(
            f"train and val have different classes: only in train {only_train}, only in val "
            f"{only_val}. Give both folders the same class sub-folders."
        )
    classes = sorted(train_files)
    index = {name: i for i, name in enumerate(classes)}
    train_samples = [Sample(p, index[n]) for n in classes for p in train_files[n]]
    val_samples = [Sample(p, index[n]) for n in classes for p in val_files[n]]
    return classes, train_samples, val_samples, f"{root}/train and {root}/val"


def _held_out_split(
    root: Path, val_fraction: float, seed: int, unreadable: dict[str, str]
) -> tuple[list[str], list[Sample], list[Sample], str]:
    """Class folders only: ``val_fraction`` of each class held out, by ``seed``."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction={val_fraction} must be between 0 and 1 (exclusive).")
    files = class_folders(root, unreadable)
    check_classes(root, files, unreadable)
    train_samples, val_samples = _stratified_split(files, val_fraction, seed)
    return (
        sorted(files),
        train_samples,
        val_samples,
        f"{root}, {val_fraction:.0%} of each class held out (seed {seed})",
    )


def check_batch_size(dataset_size: int, batch_size: int, world_size: int = 1) -> None:
    """Refuse a batch size that would leave the training epoch empty (``drop_last``)."""
    per_rank = dataset_size // world_size
    if batch_size < 1:
        raise DataError(f"batch_size={batch_size} must be at least 1.")
    if batch_size > per_rank:
        where = f" per process ({dataset_size} images over {world_size} processes)" if world_size > 1 else ""
        raise DataError(
            f"batch_size={batch_size} is larger than the training set: {per_rank} images{where}. "
            f"Use --batch-size {max(1, per_rank)} or less, or add images."
        )


# -- order and loaders --------------------------------------------------------------------------
class EpochSampler(Sampler[int]):
    """This rank's indices for one epoch: a pure function of (seed, epoch, rank).

    The permutation comes from a generator seeded with ``seed + epoch`` (as DistributedSampler
    does), so a resumed run sees exactly the order it would have seen. ``start`` skips the
    first samples of the epoch, the ones a resumed run has already trained on.
    """

    def __init__(
        self, size: int, *, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0
        # Each rank gets the same count; training drops the remainder rather than padding with
        # repeats, so no image is seen twice per epoch.
        self.per_rank = size // world_size if shuffle else -(-size // world_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
            order = order[: self.per_rank * self.world_size]
        else:
            order = list(range(self.size))
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.start :])

    def __len__(self) -> int:
        return max(0, len(self.indices()) - self.start)


def make_loader(
    dataset: ArrayDataset | ImageFolder,
    batch_size: int,
    *,
    train: bool,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A loader whose order depends only on (seed, epoch, rank).

    Training drops the last partial batch: a batch of a few images gives BatchNorm a noisy
    mean and variance, which small datasets feel in their running statistics. Validation
    keeps every image (and, under DDP, each rank evaluates its own shard).
    """
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed, rank=rank, world_size=world_size)
    return ReportingLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=train,
        num_workers=workers,
        collate_fn=collate_skipping,
        worker_init_fn=_worker_init if workers > 0 else None,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        # The loader draws a base seed for its workers on every new iterator; a private
        # generator keeps that draw off the global RNG, whose state a resumed run restores.
        generator=torch.Generator().manual_seed(seed),
    )
