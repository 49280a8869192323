"""The package version has one source: ``mobilenets.__version__`` is what the installed wheel says."""

from __future__ import annotations

import importlib.metadata
import re

import mobilenets
from mobilenets.version import __version__


def test_version_matches_the_installed_distribution() -> None:
    assert mobilenets.__version__ == importlib.metadata.version("mobilenets")
    assert mobilenets.__version__ is __version__


def test_version_is_pep_440_release_form() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+([abc]|rc)?\d*(\.post\d+)?(\.dev\d+)?", mobilenets.__version__)
