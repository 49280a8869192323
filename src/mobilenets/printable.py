"""Text that any terminal, log or UTF-8 file can hold, and that fits on one line.

Linux file names are bytes; Python carries the bytes that are not UTF-8 as lone surrogates
(``os.fsdecode``), which cannot be printed or written as UTF-8. Shown here as ``\\xNN`` escapes,
the same spelling ``ls -b`` and Python's own ``repr`` of bytes use. Control characters (a
newline in a file name, a terminal escape sequence in a class label) are escaped as well, so a
name can neither break a one-line message nor recolour the terminal.
"""

from __future__ import annotations

import os
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
BRIEF_LENGTH = 160


def printable(text: str | os.PathLike[str]) -> str:
    """``text`` (or a path) with undecodable bytes and control characters written as escapes."""
    raw = os.fsencode(text) if isinstance(text, os.PathLike) else text.encode("utf-8", "surrogateescape")
    decoded = raw.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), decoded)


def brief(error: BaseException | str) -> str:
    """An error's own message, on one line and short: its first sentence, cut at a word."""
    text = " ".join(str(error).split())
    first = re.split(r"(?<=[.!?]) ", text, maxsplit=1)[0]
    if len(first) <= BRIEF_LENGTH:
        return first
    return first[:BRIEF_LENGTH].rsplit(" ", 1)[0] + " ..."
