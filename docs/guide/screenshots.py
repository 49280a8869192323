"""Full-page screenshots of three guide pages, taken in headless Chromium from the built site.

    python docs/guide/screenshots.py               # builds the site into a temporary folder first
    python docs/guide/screenshots.py --site site   # or shoots the one `make docs` built

Writes ``docs/screenshots/<page>.<lang>.png`` (outside the site's docs_dir, so the site does not
ship them). Needs playwright (in the ``dev`` extras) and a Chromium: ``apt-get install chromium``;
playwright's own browser download is not used.

The helpers here (build the site, serve it, find the browser, list the pages and languages) are
shared with the browser test, tests/guide/test_site.py.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "mkdocs.yml"
INSTALL_HINT = "needs headless Chromium: apt-get install chromium (and playwright: pip install -e '.[dev]')"
# The pages the closing note shows: one per paper era, both languages represented.
SHOTS = (("v1.md", "en"), ("v2-linear-bottleneck.md", "zh"), ("v3.md", "en"))


class _Loader(yaml.SafeLoader):
    """mkdocs.yml may hold ``!!python/name:`` and ``!ENV`` tags; reading the nav needs none of them."""


_Loader.add_multi_constructor("", lambda _loader, _suffix, _node: None)
_Loader.add_multi_constructor("!", lambda _loader, _suffix, _node: None)


def site_config() -> dict[str, Any]:
    """mkdocs.yml, parsed (tags read as None)."""
    config: dict[str, Any] = yaml.load(CONFIG.read_text(), Loader=_Loader)
    return config


def plugin(name: str) -> dict[str, Any]:
    """One plugin's settings from mkdocs.yml (``{}`` when it has none)."""
    for entry in site_config().get("plugins", []):
        if isinstance(entry, dict) and name in entry:
            return dict(entry[name] or {})
    return {}


def nav_pages() -> list[str]:
    """The markdown files in the nav, in its order (English names: ``v1.md``)."""

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, str):
            if node.endswith(".md"):
                yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return list(walk(site_config().get("nav", [])))


def languages() -> list[str]:
    """The site's locales, default first: ``["en", "zh"]``."""
    entries = plugin("i18n").get("languages", [])
    built = [entry for entry in entries if entry.get("build", True)]
    return [entry["locale"] for entry in sorted(built, key=lambda entry: not entry.get("default", False))]


def page_path(page: str, lang: str) -> str:
    """Where a page is served: ``/v1.html`` for the default language, ``/zh/v1.html`` for the others."""
    html = page.removesuffix(".md") + ".html"
    return f"/{html}" if lang == languages()[0] else f"/{lang}/{html}"


def build_site(site: Path, config: Path = CONFIG) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` into ``site``; the finished process (the caller checks its code)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about MkDocs 2
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve ``site`` on a free localhost port from a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def chromium_path() -> str | None:
    """The system's Chromium (Debian's ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def shoot(
    base_url: str, out: Path, shots: tuple[tuple[str, str], ...] = SHOTS, width: int = 1280
) -> list[Path]:
    """Full-page PNGs of ``shots`` (page, language) into ``out``; the files written."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise SystemExit(f"screenshots.py {INSTALL_HINT}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        page = browser.new_page(viewport={"width": width, "height": 900})
        for name, lang in shots:
            response = page.goto(base_url + page_path(name, lang), wait_until="networkidle")
            if response is None or not response.ok:
                raise SystemExit(f"{name} ({lang}): {page_path(name, lang)} did not load")
            path = out / f"{name.removesuffix('.md')}.{lang}.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="a built site (default: build one into a temporary folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--width", type=int, default=1280, help="browser width in pixels")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        site = args.site
        if site is None:
            site = Path(temporary) / "site"
            built = build_site(site)
            if built.returncode != 0:
                raise SystemExit(f"mkdocs build --strict failed:\n{built.stdout}{built.stderr}")
        with serve(site) as base_url:
            for path in shoot(base_url, args.out, width=args.width):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
