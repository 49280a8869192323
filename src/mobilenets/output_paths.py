"""Checking an output path before any work, so that a typo costs nothing and destroys nothing.

A results file, an exported model or a converted weights file is written at the end of the
work; a path that cannot take it must fail at the start instead. And an output path must never
point at something that writing would destroy: an input image, the weights being read, a
device such as ``/dev/null`` (which a rename would replace with a regular file), or a file of
another kind (the suffix says what the file will be).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from mobilenets.printable import printable


def special_file_kind(path: Path) -> str | None:
    """'a device' / 'a pipe' / 'a socket' for paths that exist but are no regular file, else None."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def probe_writable(folder: Path, path: str | Path) -> None:
    """Create and remove an empty file in ``folder``, so that a folder the command may not write to
    (permissions, a read-only filesystem) fails now, not after the work.

    Raises:
        OSError: naming ``path`` (the output), with the system's reason.
    """
    try:
        handle, name = tempfile.mkstemp(prefix=".mobilenets-probe-", dir=folder)
    except OSError as error:
        if error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error
    os.close(handle)
    os.unlink(name)


def check_output_file(
    path: str | Path,
    suffixes: tuple[str, ...],
    what: str,
    protect: Iterable[str | Path] = (),
    create_parent: bool = False,
) -> Path:
    """Refuse an output file path that cannot or must not be written.

    Args:
        path: where the output will go.
        suffixes: the suffixes the output may have (e.g. ``('.json',)``).
        what: how the message names the path, e.g. '--json' or 'the exported file'.
        protect: files that are read by the same command and must not be overwritten.
        create_parent: a missing parent folder will be created by the writer (else it is
            refused, as most likely a typo).

    Returns:
        The path to write: symbolic links are followed, so the link's target is written.

    Raises:
        ValueError: wrong suffix, a folder, a device or pipe, a missing parent folder, or one of
            the ``protect`` files.
        OSError: the folder cannot be written to (``probe_writable``).
    """
    path = Path(path)
    shown = printable(path)
    if path.is_dir():
        raise ValueError(
            f"{what} {shown}: is a folder; give a file path, e.g. {printable(path / ('out' + suffixes[0]))}"
        )
    kind = special_file_kind(path)
    if kind:
        raise ValueError(f"{what} {shown}: is {kind}, not a regular file; give a file path")
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{what} {shown}: the file name must end in {' or '.join(suffixes)}")
    target = Path(os.path.realpath(path))
    if create_parent and not target.parent.exists():
        # The writer creates it (atomic_write_file): nothing is made before the work, but the
        # nearest folder that exists must take it.
        existing = next(folder for folder in target.parents if folder.exists())
        if existing.is_dir():
            probe_writable(existing, path)
    elif not target.parent.is_dir():
        raise ValueError(
            f"{what} {shown}: the folder {printable(target.parent)} does not exist; create it first"
        )
    else:
        probe_writable(target.parent, path)
    for other in protect:
        if target.exists() and Path(other).exists() and os.path.samefile(target, other):
            raise ValueError(
                f"{what} {shown}: is {printable(other)}, which this command reads; writing would "
                "destroy it. Choose another output path."
            )
    return target
