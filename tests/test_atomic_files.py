"""``atomic_files``: a file is written whole or not at all, and interrupted writes are cleaned up."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobilenets import atomic_files
from mobilenets.atomic_files import (
    TEMP_PATTERN,
    atomic_write_bytes,
    atomic_write_file,
    remove_stale_temp_files,
)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_writes_the_bytes_and_returns_the_path_as_given(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    returned = atomic_write_bytes(str(target), b"\x00payload\xff")
    assert returned == target and isinstance(returned, Path)
    assert target.read_bytes() == b"\x00payload\xff"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temporary file left


def test_a_memoryview_is_written_whole(tmp_path: Path) -> None:
    data = bytearray(range(256)) * 1000
    atomic_write_bytes(tmp_path / "big.bin", memoryview(data))
    assert (tmp_path / "big.bin").read_bytes() == bytes(data)


def test_replaces_an_existing_file_and_creates_missing_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_the_new_file_gets_the_mode_open_would_give(tmp_path: Path, umask_022: None) -> None:
    reference = tmp_path / "plain.txt"
    with open(reference, "wb") as file:
        file.write(b"x")
    atomic_write_bytes(tmp_path / "atomic.txt", b"x")
    mode = stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode)
    assert mode == stat.S_IMODE(reference.stat().st_mode) == 0o644  # not mkstemp's private 0600


def test_a_symbolic_link_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_bytes(b"old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    returned = atomic_write_bytes(link, b"new")
    assert returned == link
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_the_write_function_gets_a_temporary_path_beside_the_target(tmp_path: Path) -> None:
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_text("via callback")

    atomic_write_file(tmp_path / "result.json", write)
    [tmp] = seen
    assert tmp.parent == tmp_path and tmp != tmp_path / "result.json"
    assert TEMP_PATTERN.match(tmp.name) and tmp.name.startswith(".result.json.")
    assert not tmp.exists() and (tmp_path / "result.json").read_text() == "via callback"


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, failure: BaseException) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("good")

    def write(tmp: Path) -> None:
        tmp.write_text("half")
        raise failure

    with pytest.raises(type(failure)):
        atomic_write_file(target, write)
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_full_disk_names_the_target_not_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "weights.safetensors"
    target.write_bytes(b"previous")

    def full(file: object, data: bytes | memoryview) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_files, "write_bytes", full)
    with pytest.raises(OSError) as error:
        atomic_write_bytes(target, b"new weights")
    assert error.value.errno == errno.ENOSPC
    assert error.value.filename == str(target)
    assert error.value.strerror == "No space left on device while writing it"
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.safetensors"]


def test_an_oserror_without_errno_passes_through(tmp_path: Path) -> None:
    def write(tmp: Path) -> None:
        raise OSError("no errno")

    with pytest.raises(OSError, match=r"^no errno$"):
        atomic_write_file(tmp_path / "x", write)
    assert list(tmp_path.iterdir()) == []


def test_a_parent_that_is_a_file_names_the_target(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "out.bin"
    with pytest.raises(OSError) as error:
        atomic_write_bytes(target, b"x")
    assert error.value.filename == str(target)
    assert error.value.errno in (errno.EEXIST, errno.ENOTDIR)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a folder, not a regular file") as error:
        atomic_write_bytes(tmp_path, b"x")
    assert str(tmp_path) in str(error.value)


def test_a_device_is_refused_and_left_a_device() -> None:
    with pytest.raises(ValueError, match="/dev/null: is a device, not a regular file"):
        atomic_write_bytes("/dev/null", b"x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_pipe_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is a pipe"):
        atomic_write_bytes(fifo, b"x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_stale_temporary_files_are_removed_and_nothing_else(tmp_path: Path) -> None:
    handle, name = tempfile.mkstemp(prefix=".weights.safetensors.", suffix=".tmp", dir=tmp_path)
    os.close(handle)  # what a killed atomic write leaves behind
    interrupted = Path(name)
    also_stale = tmp_path / ".metrics.csv.ab_12cd9.tmp"
    also_stale.write_text("")
    kept = {
        "metrics.csv": "file",
        "notes.tmp": "file",  # no leading dot
        ".x.ABCDEFGH.tmp": "file",  # upper case: not mkstemp's alphabet
        ".x.abc.tmp": "file",  # too short a random part
        ".x.abcdefgh.bak": "file",
        ".folder.abcdefgh.tmp": "dir",  # a folder is never deleted
    }
    for kept_name, kind in kept.items():
        if kind == "dir":
            (tmp_path / kept_name).mkdir()
        else:
            (tmp_path / kept_name).write_text("")
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted([interrupted, also_stale])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_stale_removal_in_a_missing_folder_removes_nothing(tmp_path: Path) -> None:
    assert remove_stale_temp_files(tmp_path / "absent") == []
    (tmp_path / "file").write_text("")
    assert remove_stale_temp_files(tmp_path / "file") == []
