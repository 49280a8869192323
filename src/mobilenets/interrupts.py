"""Ctrl-C and SIGTERM as exceptions, so that every ``finally`` block writes what finished.

Ctrl-C raises ``KeyboardInterrupt``; within ``sigterm_as_exception`` SIGTERM raises
``Terminated`` the same way, instead of killing the process at once. Library code that keeps
results (prediction files, checkpoints) catches ``INTERRUPTS`` to say how much survived, then
raises again; the command line turns them into one line and exit codes 130 and 143.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so ``finally`` blocks write what finished."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def sigterm_as_exception() -> Iterator[None]:
    """Within the block, SIGTERM unwinds the stack (running ``finally``) instead of killing at once."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (e.g. main() called from a worker thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


INTERRUPTS = (KeyboardInterrupt, Terminated)
