"""The built guide in a real browser: every page, in every language, loads whole and shows its numbers.

The site is built with ``mkdocs build --strict`` (the committed numbers and figures) into a
temporary folder, served from a thread on a free localhost port, and opened in headless Chromium
(Debian's ``chromium``, driven by playwright). For each page and language:

- every ``<img>`` has loaded (``complete`` and ``naturalWidth > 0``);
- the browser logged no error (console messages of type error, uncaught page errors, and so
  also any file the page asked for and did not get);
- each of its page module's ``KEY_NUMBERS`` appears in the page's visible text outside tables:
  the number is stated in the prose, not only in a table.

Without Chromium or playwright the tests skip, saying how to install them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.guide import pages
from tests.guide.pages import screenshots

pytestmark = pytest.mark.slow

# Wait for every image (even a lazy one), then list those that did not load.
BROKEN_IMAGES = """async () => {
    const images = Array.from(document.images);
    images.forEach((image) => { image.loading = "eager"; });
    await Promise.all(images.map((image) => image.complete ? null : new Promise((done) => {
        image.addEventListener("load", done);
        image.addEventListener("error", done);
    })));
    return images.filter((image) => !(image.complete && image.naturalWidth > 0))
        .map((image) => image.getAttribute("src"));
}"""

# The article's rendered text with its tables hidden: what a reader reads as prose.
PROSE = """() => {
    const article = document.querySelector("article") || document.body;
    const tables = Array.from(article.querySelectorAll("table"));
    const shown = tables.map((table) => table.style.display);
    tables.forEach((table) => { table.style.display = "none"; });
    const text = article.innerText;
    tables.forEach((table, i) => { table.style.display = shown[i]; });
    return text;
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"playwright is not installed: the browser test {screenshots.INSTALL_HINT}")
    executable = screenshots.chromium_path()
    if executable is None:
        pytest.skip(f"no chromium on PATH: the browser test {screenshots.INSTALL_HINT}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site = tmp_path_factory.mktemp("guide") / "site"
    built = screenshots.build_site(site)
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stdout}{built.stderr}"
    with screenshots.serve(site) as url:
        yield url


def key_numbers(page: str) -> tuple[dict[str, str], list[str]]:
    """The values the page must show, and the reasons some cannot be checked."""
    name = pages.page_module(page)
    if name is None:
        return {}, []  # the index: no numbers of its own
    if not (pages.GUIDE / "compute" / f"{name}.py").exists():
        return {}, [f"key numbers: docs/guide/compute/{name}.py does not exist yet"]
    module = pages.load_module(name)
    keys = getattr(module, "KEY_NUMBERS", ())
    if not keys:
        return {}, [f"key numbers: compute/{name}.py declares no KEY_NUMBERS"]
    numbers = pages.read_numbers(pages.namespaces()[name])
    values, problems = {}, []
    for key in keys:
        found, value = pages.lookup(numbers, key)
        if found:
            values[key] = " ".join(str(value).split())
        else:
            problems.append(f"key numbers: {name}.{key} is not in numbers/{name}.yml")
    return values, problems


@pytest.mark.parametrize("lang", screenshots.languages())
@pytest.mark.parametrize("page", screenshots.nav_pages())
def test_page(browser: Any, base_url: str, page: str, lang: str) -> None:
    expected, problems = key_numbers(page)
    url = base_url + screenshots.page_path(page, lang)
    tab = browser.new_page()
    errors: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error":
            source = message.location.get("url", "")
            errors.append(f"{message.text} ({source})" if source else message.text)

    tab.on("console", console)
    tab.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    try:
        response = tab.goto(url, wait_until="networkidle")
        if response is None or response.status != 200:
            problems.append(f"load: HTTP {None if response is None else response.status}")
        broken = tab.evaluate(BROKEN_IMAGES)
        if broken:
            problems.append(f"images: {', '.join(broken)} did not load (naturalWidth 0)")
        prose = " ".join(tab.evaluate(PROSE).split())
        for key, value in expected.items():
            if value not in prose:
                problems.append(f"key number: {key} = {value!r} is not in the text outside tables")
    finally:
        tab.close()
    if errors:
        problems.append(f"console errors: {' | '.join(errors)}")
    where = Path(screenshots.page_path(page, lang)).as_posix()
    assert not problems, f"{page} ({lang}, {where}):\n  " + "\n  ".join(problems)
