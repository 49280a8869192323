"""Text that any terminal, log or UTF-8 file can hold, even when it carries an undecodable file name.

Linux file names are bytes; Python carries the bytes that are not UTF-8 as lone surrogates
(``os.fsdecode``), which cannot be printed or written as UTF-8. Shown here as ``\\xNN`` escapes,
the same spelling ``ls -b`` and Python's own ``repr`` of bytes use.
"""

from __future__ import annotations

import os


def printable(text: str | os.PathLike[str]) -> str:
    """``text`` (or a path) with every undecodable byte written as ``\\xNN``."""
    raw = os.fsencode(text) if isinstance(text, os.PathLike) else text.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace")
