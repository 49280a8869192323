"""Training data: ImageFolder layouts, pre-flight errors, unreadable images, and the epoch order."""

import contextlib
import functools
import io
import operator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenets.data.datasets import (
    DataError,
    EpochSampler,
    Unreadable,
    build_datasets,
    check_batch_size,
    class_folders,
    collate_skipping,
    make_loader,
)


def make_folder(root: Path, classes: dict[str, int], size: int = 40, seed: int = 0) -> Path:
    """Write ``count`` random PNGs into ``root/CLASS/`` for each class."""
    rng = np.random.default_rng(seed)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_split_fraction_is_stratified_and_seeded(tmp_path: Path) -> None:
    make_folder(tmp_path, {"a": 10, "b": 20})
    splits = build_datasets(str(tmp_path), 32, val_fraction=0.2, seed=3)
    assert splits.classes == ["a", "b"]
    assert len(splits.val) == 6 and len(splits.train) == 24
    assert sorted(splits.val.targets) == [0, 0, 1, 1, 1, 1]
    again = build_datasets(str(tmp_path), 32, val_fraction=0.2, seed=3)
    assert [s.path for s in again.val.samples] == [s.path for s in splits.val.samples]  # type: ignore[union-attr]
    image, _label = splits.train[0]  # type: ignore[misc]
    assert image.shape == (3, 32, 32) and image.min() >= 0.0 and image.max() <= 1.0


def test_train_and_val_folders(tmp_path: Path) -> None:
    make_folder(tmp_path / "train", {"cat": 3, "dog": 4})
    make_folder(tmp_path / "val", {"cat": 1, "dog": 2})
    splits = build_datasets(str(tmp_path), 32)
    assert (len(splits.train), len(splits.val)) == (7, 3)
    assert splits.train.targets == [0, 0, 0, 1, 1, 1, 1]


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data directory .*nope does not exist.*--data digits"):
        build_datasets(str(tmp_path / "nope"), 32)


def test_empty_class_folder_is_refused(tmp_path: Path) -> None:
    make_folder(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"class folder\(s\) .*empty contain no readable images"):
        build_datasets(str(tmp_path), 32)


def test_no_class_folders_is_refused(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "loose.png")
    with pytest.raises(DataError, match=r"has no class folders"):
        build_datasets(str(tmp_path), 32)


def test_train_and_val_with_different_classes_are_refused(tmp_path: Path) -> None:
    make_folder(tmp_path / "train", {"cat": 2, "dog": 2})
    make_folder(tmp_path / "val", {"cat": 1, "bird": 1})
    with pytest.raises(DataError, match=r"only in train \['dog'\], only in val \['bird'\]"):
        build_datasets(str(tmp_path), 32)


def test_train_without_val_is_refused(tmp_path: Path) -> None:
    make_folder(tmp_path / "train", {"cat": 2, "dog": 2})
    with pytest.raises(DataError, match=r"val does not; add val/"):
        build_datasets(str(tmp_path), 32)


def test_batch_larger_than_dataset_is_refused() -> None:
    check_batch_size(100, 100)
    with pytest.raises(DataError, match=r"batch_size=101 is larger than the training set: 100 images"):
        check_batch_size(100, 101)
    with pytest.raises(DataError, match=r"50 images per process \(100 images over 2 processes\)"):
        check_batch_size(100, 64, world_size=2)


def test_unreadable_files_are_left_out_of_the_counts_and_listed(tmp_path: Path) -> None:
    make_folder(tmp_path, {"a": 4, "b": 4})
    broken = tmp_path / "a" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "b" / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "b" / "folder.jpg").mkdir()
    splits = build_datasets(str(tmp_path), 32, val_fraction=0.25)
    assert len(splits.train) + len(splits.val) == 8  # the readable images only
    assert "8 val" not in splits.description and "3 unreadable files skipped" in splits.description
    assert set(splits.unreadable) == {
        str(broken),
        str(tmp_path / "b" / "dangling.jpg"),
        str(tmp_path / "b" / "folder.jpg"),
    }
    assert "not an image file" in splits.unreadable[str(broken)]
    assert "broken symbolic link" in splits.unreadable[str(tmp_path / "b" / "dangling.jpg")]
    assert "is a folder" in splits.unreadable[str(tmp_path / "b" / "folder.jpg")]


def test_an_image_that_fails_to_decode_is_reported_with_path_and_reason_then_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_folder(tmp_path, {"a": 4, "b": 4})
    truncated = tmp_path / "a" / "truncated.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:400])  # the header is intact, the pixels are not
    splits = build_datasets(str(tmp_path), 32, val_fraction=0.25)
    dataset = splits.train if any(s.path == truncated for s in splits.train.samples) else splits.val  # type: ignore[union-attr]
    loader = make_loader(dataset, batch_size=len(dataset), train=False)
    images, labels = next(iter(loader))
    assert images.shape[0] == len(dataset) - 1 == labels.shape[0]
    err = capsys.readouterr().err
    assert f"skipping unreadable image {truncated}" in err and "truncated" in err
    assert str(truncated) in dataset.skipped


def test_collate_of_an_all_broken_batch_is_empty() -> None:
    images, labels, unreadable = collate_skipping(
        [Unreadable("a.png", "truncated"), Unreadable("b.png", "empty")]
    )
    assert images.shape[0] == 0 and labels.numel() == 0
    assert unreadable == [("a.png", "truncated"), ("b.png", "empty")]


def test_epoch_order_is_a_function_of_seed_and_epoch() -> None:
    sampler = EpochSampler(100, shuffle=True, seed=7)
    sampler.set_epoch(3)
    order = list(sampler)
    assert sorted(order) == list(range(100)) and order != list(range(100))
    sampler.set_epoch(4)
    assert list(sampler) != order
    again = EpochSampler(100, shuffle=True, seed=7)
    again.set_epoch(3, start=40)  # a resume 40 samples into epoch 3
    assert list(again) == order[40:] and len(again) == 60


def test_ranks_get_disjoint_equal_shards() -> None:
    shards = []
    for rank in range(3):
        sampler = EpochSampler(100, shuffle=True, seed=1, rank=rank, world_size=3)
        sampler.set_epoch(2)
        shards.append(list(sampler))
    assert [len(s) for s in shards] == [33, 33, 33]
    assert len(set().union(*map(set, shards))) == 99
    val = [list(EpochSampler(10, shuffle=False, rank=r, world_size=3)) for r in range(3)]
    assert sorted(functools.reduce(operator.iadd, val, [])) == list(
        range(10)
    )  # evaluation sees every image exactly once


def test_training_loader_drops_the_last_partial_batch() -> None:
    dataset = torch.utils.data.TensorDataset(torch.zeros(10, 3, 4, 4), torch.zeros(10, dtype=torch.long))
    loader = make_loader(dataset, batch_size=4, train=True)  # type: ignore[arg-type]
    assert [len(labels) for _, labels in loader] == [4, 4]
    loader = make_loader(dataset, batch_size=4, train=False)  # type: ignore[arg-type]
    assert [len(labels) for _, labels in loader] == [4, 4, 2]


def test_pillow_warnings_about_damaged_headers_never_escape_the_parallel_probe(tmp_path: Path) -> None:
    # Pillow warns "Corrupt EXIF data" about this header and then fails; the probes run in threads,
    # and warnings.catch_warnings is process-wide, so one probe could once re-arm the "error"
    # filter (pytest's setting here) while another was still reading such a header.
    damaged = b"II*\x00\x08\x00\x00\x00" + np.random.default_rng(13).integers(0, 256, 512, np.uint8).tobytes()
    with pytest.warns(UserWarning, match="Corrupt EXIF"), contextlib.suppress(Exception):
        Image.open(io.BytesIO(damaged))  # the premise: this header does make Pillow warn
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        Image.new("RGB", (8, 8)).save(folder / "fine.png")
        for index in range(150):
            (folder / f"damaged{index}.tiff").write_bytes(damaged)
    unreadable: dict[str, str] = {}
    found = class_folders(tmp_path, unreadable)
    assert {name: [p.name for p in files] for name, files in found.items()} == {
        "a": ["fine.png"],
        "b": ["fine.png"],
    }
    assert len(unreadable) == 300


def refuse_listing(monkeypatch: pytest.MonkeyPatch, locked: Path) -> None:
    """``locked`` cannot be listed, as a chmod 000 folder for a user who is not root."""
    import errno
    import os

    scandir = os.scandir

    def guarded(path: object = ".") -> object:
        if Path(str(path)).resolve() == locked.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", guarded)


def test_a_class_folder_that_cannot_be_listed_is_a_permission_error_not_an_empty_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_folder(tmp_path, {"a": 4, "b": 4}, size=8)
    refuse_listing(monkeypatch, tmp_path / "b")
    with pytest.raises(PermissionError) as error:
        build_datasets(str(tmp_path), 32, val_fraction=0.25, seed=0)
    assert error.value.filename == str(tmp_path / "b")  # the boundary names it, exit 4


def test_a_loader_worker_drops_only_a_lost_connection_to_the_main_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After Ctrl-C the main process stops receiving a batch mid-way; the worker's resource-sharer
    thread then reports the closed connection through sys.excepthook, under the one-line message."""
    import signal
    import sys

    from mobilenets.data.datasets import _worker_init

    printed: list[str] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, error, trace: printed.append(kind.__name__))
    previous = signal.getsignal(signal.SIGINT)
    try:
        _worker_init(0)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        for kind in (ConnectionResetError, BrokenPipeError, EOFError, ValueError):
            sys.excepthook(kind, kind(), None)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert printed == ["ValueError"]  # anything else still reaches the default hook
