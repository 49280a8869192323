"""What the guide's tests read: its pages, the numbers they quote, and the page modules behind them.

A page quotes numbers as ``{{ <namespace>.<key> }}``; each namespace is one ``include_yaml`` entry
of the macros plugin in mkdocs.yml (``v1: docs/guide/numbers/v1.yml``), written by the page module
``docs/guide/compute/<namespace>.py`` through ``make_figures.py``. A page belongs to the module
whose numbers it quotes most (``v2-linear-bottleneck.md`` quotes ``{{ v2.* }}``); a page that
quotes none yet falls back to its file name (``width-resolution.md`` -> ``width_resolution``).
"""

from __future__ import annotations

import collections
import importlib
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide"
sys.path.insert(0, str(GUIDE))  # make_figures.py, screenshots.py and compute/ import from there

import make_figures  # noqa: E402
import screenshots  # noqa: E402

# {{ v1.mult_adds }}, {{ v3.machine.cpu }}, {{ v1.table1 | trim }}: the namespace and the dotted key.
VARIABLE = re.compile(r"\{\{-?\s*([A-Za-z_]\w*)((?:\.\w+)+)\s*(?:\|[^}]*)?-?\}\}")
FIGURE = re.compile(r"\bimg/[\w.-]+\.png\b")
MODULES: tuple[str, ...] = make_figures.PAGES  # the page modules, in the order make_figures.py runs them


def namespaces() -> dict[str, Path]:
    """Each numbers namespace and its file, from the macros plugin's ``include_yaml``."""
    found: dict[str, Path] = {}
    for entry in screenshots.plugin("macros").get("include_yaml", []):
        if isinstance(entry, dict):
            [(name, path)] = entry.items()
            found[name] = ROOT / path
    return found


def page_file(page: str, lang: str) -> Path:
    """``v1.md`` in English; ``v1.zh.md`` in the other languages (the i18n plugin's suffixes)."""
    if lang == screenshots.languages()[0]:
        return GUIDE / page
    return GUIDE / page.replace(".md", f".{lang}.md")


def variables(path: Path) -> set[tuple[str, str]]:
    """The (namespace, dotted key) pairs a page quotes."""
    return {(match[1], match[2][1:]) for match in VARIABLE.finditer(path.read_text())}


def figures(path: Path) -> set[str]:
    """The ``img/<name>.png`` files a page shows."""
    return set(FIGURE.findall(path.read_text()))


def page_module(page: str) -> str | None:
    """The numbers namespace (= page module) a page belongs to, or None (the index)."""
    known = namespaces()
    quoted = [name for lang in screenshots.languages() for name, _ in variables(page_file(page, lang))]
    used = collections.Counter(name for name in quoted if name in known)
    if used:
        return used.most_common(1)[0][0]
    stem = page.removesuffix(".md").replace("-", "_")
    matches = [name for name in known if stem == name or stem.startswith(name + "_")]
    return max(matches, key=len) if matches else None


def load_module(name: str) -> ModuleType:
    """``compute.<name>``, or a test failure that says the module is missing."""
    if not (GUIDE / "compute" / f"{name}.py").exists():
        pytest.fail(f"docs/guide/compute/{name}.py does not exist yet: the page module of {{{{ {name}.* }}}}")
    return importlib.import_module(f"compute.{name}")


def read_numbers(path: Path) -> dict[str, Any]:
    """A numbers file (``{}`` when it is empty or absent)."""
    if not path.exists():
        return {}
    return dict(yaml.safe_load(path.read_text()) or {})


def lookup(numbers: dict[str, Any], key: str) -> tuple[bool, Any]:
    """``(found, value)`` of a dotted key (``machine.cpu``)."""
    value: Any = numbers
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value
