"""A run folder belongs to one run: a lock, and no silent overwriting of a finished run.

Two ``train`` processes writing into the same ``--out`` interleave their metrics and mix their
checkpoints, and a new run started in a finished folder would replace its weights. So a run
first *claims* its folder:

- ``.lock`` is locked with ``flock`` (released by the kernel even when the process is killed,
  so a crash never leaves a stale lock) and holds the owner's PID, host and start time, which a
  refused second run quotes; a run that ends deletes it;
- a folder that already holds a run is only reused with ``--resume`` (continue it) or
  ``--overwrite`` (delete its files first);
- temporary files of writes that a kill interrupted are removed.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from mobilenets.atomic_files import remove_stale_temp_files
from mobilenets.train.checkpoints import resumable

LOCK_NAME = ".lock"
# What a run writes into its folder; --overwrite deletes these and nothing else.
RUN_FILES = (
    "checkpoints",
    "tensorboard",
    "metrics.jsonl",
    "metrics.csv",
    "config.json",
    "summary.json",
    "skipped_images.json",
    "best.safetensors",
    "final.safetensors",
    "curves.png",
    "confusion.png",
)


class RunFolderError(ValueError):
    """The run folder is in use by another run, or holds a run that would be overwritten."""


def existing_run_files(run_dir: Path) -> list[str]:
    """The names of a previous run's files in ``run_dir`` (empty ones do not count)."""
    found = []
    for name in RUN_FILES:
        path = run_dir / name
        if (path.is_dir() and any(path.iterdir())) or (path.is_file() and path.stat().st_size > 0):
            found.append(name)
    return found


def _owner() -> str:
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}"


def _lock(run_dir: Path) -> IO[str]:
    """Open and flock ``run_dir/.lock``, or raise naming the run that holds it."""
    path = run_dir / LOCK_NAME
    while True:
        handle = open(path, "a+")  # noqa: SIM115 (held open for the run's lifetime)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise RunFolderError(
                f"{run_dir} is in use by another training run ({owner}); wait for it to finish, or "
                "train into another --out."
            ) from None
        # The holder deletes the file as it lets go: a lock taken on a file that is no longer
        # the one at ``path`` guards nothing, so take it again on the new file.
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    handle.seek(0)
    handle.truncate()
    handle.write(_owner() + "\n")
    handle.flush()
    return handle


@contextmanager
def claim(run_dir: str | Path, *, resume: bool, overwrite: bool) -> Iterator[list[Path]]:
    """Hold ``run_dir`` for one run; yields the stale temporary files that were removed.

    Args:
        run_dir: the run folder (created if missing).
        resume: the run continues the folder's own checkpoints.
        overwrite: delete a previous run's files first (never together with ``resume``).

    Raises:
        RunFolderError: another run holds the folder, or it holds a run and neither
            ``resume`` nor ``overwrite`` was given.
    """
    run_dir = Path(run_dir)
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite contradict each other: pick one.")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"--out {run_dir}: is a file; give a folder for the run")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = _lock(run_dir)
    try:
        previous = existing_run_files(run_dir)
        if previous and not resume:
            if not overwrite:
                # --resume auto is offered only where it can work: a run stopped before its
                # first checkpoint has nothing to continue from.
                how = (
                    "continue it with --resume auto, replace it"
                    if resumable(run_dir / "checkpoints")
                    else "it has no checkpoint to continue from: replace it"
                )
                raise RunFolderError(
                    f"{run_dir} already holds a run ({', '.join(previous)}); {how} with "
                    "--overwrite, or train into another --out."
                )
            for name in previous:
                path = run_dir / name
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        removed = remove_stale_temp_files(run_dir) + remove_stale_temp_files(run_dir / "checkpoints")
        yield removed
    finally:
        (run_dir / LOCK_NAME).unlink(missing_ok=True)  # before unlocking: see _lock
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
        if created and not any(run_dir.iterdir()):  # a run that failed before writing anything
            run_dir.rmdir()
