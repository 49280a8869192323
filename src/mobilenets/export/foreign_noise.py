"""Muting the notices that ExecuTorch and torchao print about themselves on a CPU-only machine.

Importing ExecuTorch's quantizer or runtime imports torchao, which logs a "Failed to load" line
for each CUDA kernel library it ships (there is no GPU to load them for), and registers an enum
that makes torch log a deprecation warning. Starting XNNPACK's threadpool makes ExecuTorch's
C++ code print its search for an Arm CPU's ID registers and the thread count. None of this is
about the user's model or files, and it would break the rule that a command prints what it did
and, on failure, one line. So these known notices are dropped, and only these: any other output,
Python or native, is passed through unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

# Python loggers whose warnings during these imports are the notices above.
_QUIET_LOGGERS = ("torchao", "torch.utils._pytree")
# Native lines (written to file descriptor 2 by C++ code) that are the notices above.
_NATIVE_NOTICES = re.compile(
    r"^\[(cpuinfo_utils|threadpool)\.cpp:\d+\] "
    r"|^Failed to load \S*torchao\S*: Could not load this library"
    r"|is an Enum subclass and is now natively supported by torch\.compile"
)


@contextlib.contextmanager
def foreign_notices_muted() -> Iterator[None]:
    """Run the block with torchao's and ExecuTorch's own notices dropped (see the module doc)."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with _native_stderr_filtered():
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def _native_stderr_filtered() -> Iterator[None]:
    """Capture file descriptor 2 for the block; replay every line that is not a known notice."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 to capture (a detached process)
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().decode("utf-8", "replace").splitlines()
                if not _NATIVE_NOTICES.search(line)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)
