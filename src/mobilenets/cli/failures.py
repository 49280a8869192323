"""The command line's error boundary: every failure a user can cause becomes one line and an exit code.

A user can hand the command a bad file, a bad argument, a full disk or a folder they may not
write to, or press Ctrl-C. None of these is a bug, so none of them gets a traceback: the
boundary turns each into ``mobilenets COMMAND: error: <path>: <what is wrong>; <the fix>``.
Anything else is a bug and keeps its traceback. ``--debug`` (or ``MOBILENETS_DEBUG=1``) shows
the traceback of an expected failure too.

The exit codes are documented in docs/troubleshooting.md and by ``mobilenets --help``.
"""

from __future__ import annotations

import errno
import os
import sys

from mobilenets.interrupts import Terminated, sigterm_as_exception
from mobilenets.printable import printable

__all__ = ["Terminated", "sigterm_as_exception"]  # re-exported: the boundary's own names

EXIT_OK = 0
EXIT_PARTIAL = 1  # some inputs failed; the results of the others are written
EXIT_USAGE = 2  # a bad argument, input file, dataset or run folder; nothing was started
EXIT_DIVERGED = 3  # training stopped on a NaN/inf loss; the last good checkpoint is kept
EXIT_SYSTEM = 4  # the system refused: disk full, permission denied, read-only, out of memory, no network
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); 128 + 15 = 143 for SIGTERM. Finished work is written.
EXIT_TERMINATED = 143

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_PARTIAL: "some inputs failed (each named on its own line); the others' results are written",
    EXIT_USAGE: "bad argument, input file, dataset or run folder; the line names it and the fix",
    EXIT_DIVERGED: "training diverged (NaN/inf loss); the last good checkpoint is kept",
    EXIT_SYSTEM: "the system refused: disk full, permission denied, read-only, out of memory, no network",
    EXIT_INTERRUPTED: "interrupted by Ctrl-C; finished results and checkpoints are kept",
    EXIT_TERMINATED: "terminated by SIGTERM; finished results and checkpoints are kept",
}

# What to do about an operating-system refusal, by errno.
_SYSTEM_FIXES = {
    errno.ENOSPC: "free some space or write somewhere else; files finished before this are intact",
    errno.EDQUOT: "the disk quota is used up; free some space or write somewhere else",
    errno.EACCES: "check the permissions of the file and its folder, or choose another path",
    errno.EPERM: "check the permissions of the file and its folder, or choose another path",
    errno.EROFS: "the filesystem is read-only; choose a path on a writable disk",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.EISDIR: "give a file path, not a folder",
    errno.EEXIST: "a file is where a folder should be; give a folder path",
    errno.ENAMETOOLONG: "shorten the path",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) or use fewer --workers",
    errno.EIO: "the disk reported an I/O error; check the device",
}


# How PyTorch words an allocation that failed (CPU allocator, CUDA): a RuntimeError, not MemoryError.

_OUT_OF_MEMORY = ("can't allocate memory", "out of memory")


def debug_requested(flag: bool) -> bool:
    """``--debug`` or ``MOBILENETS_DEBUG`` set to anything but '', '0' or 'false'."""
    return flag or os.environ.get("MOBILENETS_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def one_line(text: str) -> str:
    """A message on one line: a multi-line explanation joined, so every failure stays greppable."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def describe(error: BaseException) -> tuple[int, str] | None:
    """(exit code, message) for a failure a user can cause; None for a bug (keep the traceback)."""
    # A handler that knows what it saved re-raises the interrupt with that in its message.
    said = f": {one_line(str(error.args[0]))}" if error.args else ""
    if isinstance(error, Terminated):
        return EXIT_TERMINATED, f"terminated (SIGTERM){said}"
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED, f"interrupted (Ctrl-C){said}"
    hub = sys.modules.get("mobilenets.weights.official")  # official weights that could not be fetched
    if hub is not None and isinstance(error, hub.WeightsDownloadError):
        return EXIT_SYSTEM, one_line(str(error))
    training = sys.modules.get("mobilenets.train.loop")  # imported only if something trained
    if training is not None and isinstance(error, training.NonFiniteLossError):
        return EXIT_DIVERGED, f"stopped: {one_line(str(error))}"
    if isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and any(words in str(error).lower() for words in _OUT_OF_MEMORY)
    ):
        return EXIT_SYSTEM, (
            "out of memory; use a smaller --batch-size, a smaller input size or fewer --workers"
        )
    if isinstance(error, OSError) and error.errno is not None:
        where = f"{error.filename}: " if error.filename else ""
        reason = error.strerror or os.strerror(error.errno)
        fix = _SYSTEM_FIXES.get(error.errno, "check the path and the disk")
        return EXIT_SYSTEM, f"{where}{reason.lower()}; {fix}"
    if isinstance(error, ValueError | ImportError):
        # Library code raises ValueError for bad arguments and bad input files, with the path,
        # the problem and the fix in the message; ImportError names a missing optional package.
        return EXIT_USAGE, one_line(str(error))
    return None


def report(command: str, error: BaseException) -> int | None:
    """Print the one line for ``error`` and return its exit code, or None if it is a bug."""
    described = describe(error)
    if described is None:
        return None
    code, message = described
    where = f"mobilenets {command}" if command else "mobilenets"
    print(f"{where}: error: {printable(message)}", file=sys.stderr, flush=True)
    return code
