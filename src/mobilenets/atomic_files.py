"""Files written whole or not at all: a temporary file in the target's folder, fsync, rename.

Every result the package writes (weights, checkpoints, JSON reports, metrics) goes through here,
so a kill or a full disk never leaves a truncated file where a good one was. Interrupted writes
leave ``.NAME.XXXXXXXX.tmp`` files, which ``remove_stale_temp_files`` deletes.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from mobilenets.output_paths import special_file_kind

TEMP_SUFFIX = ".tmp"  # atomic writes go to ".NAME.XXXXXXXX.tmp" first
# tempfile.mkstemp's random part is 8 characters of [a-z0-9_]: nothing else matches.
TEMP_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def write_bytes(file: BinaryIO, data: bytes | memoryview) -> None:
    """Write all of ``data`` (one place, so tests can fill the disk here)."""
    file.write(data)


def atomic_write_bytes(path: str | Path, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` whole or not at all (see ``atomic_write_file``)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as file:
            write_bytes(file, data)

    return atomic_write_file(path, write)


def atomic_write_file(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)``, fsync the result and rename it over ``path``.

    The temporary file sits in the target's folder, so the rename never crosses filesystems.
    If anything fails the temporary file is removed and ``path`` is left as it was; an
    ``OSError`` (full disk, permission denied) names ``path``, not the temporary file.

    Returns:
        The path written.
    """
    # A rename replaces what is at ``path``: a symbolic link is followed (its target is written,
    # as open() would), and a device or pipe is refused (renaming over /dev/null would replace
    # the device with a regular file).
    given, path = Path(path), Path(os.path.realpath(path))
    kind = "a folder" if path.is_dir() else special_file_kind(path)
    if kind:
        raise ValueError(f"{given}: is {kind}, not a regular file; give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as error:
        if error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, str(given)) from error
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file private (0600); the result gets the mode any new file would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        write(tmp)
        with open(tmp, "rb") as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if error.errno is None:
            raise
        raise OSError(error.errno, f"{error.strerror} while writing it", str(given)) from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # The rename itself lives in the directory entry: sync that too, or a power cut can lose it.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return given


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files of writes that a kill interrupted (``.NAME.XXXX.tmp``).

    Only call this while holding the folder (``run_folder.claim``): a live run's temporary
    file looks the same.

    Returns:
        The files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.iterdir() if TEMP_PATTERN.match(p.name) and p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
