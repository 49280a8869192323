"""The guide's numbers: every number a page quotes is one the figure script computes.

Fast checks read the pages and the committed numbers files (``docs/guide/numbers/*.yml``):

- every ``{{ page.key }}`` a page quotes, in either language, is in the numbers files, and the
  English and Chinese versions of a page quote the same variables;
- a page quoting a number that is not there fails ``mkdocs build --strict`` (a tiny site).

The slow checks run ``make_figures.py --quick`` once, for every page, into a temporary folder:

- every figure a page shows (``img/*.png``) is regenerated;
- every exact number (a key not in its module's ``MEASURED``) equals the committed one, so the
  numbers in the text are what the script computes; the measured ones are computed too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.guide import pages
from tests.guide.pages import GUIDE, MODULES, ROOT, screenshots

NAV = screenshots.nav_pages()
LANGS = screenshots.languages()
# Every page in the default language (v1.md), whether or not the nav lists it yet.
PAGES = sorted(
    path.name for path in GUIDE.glob("*.md") if not any(path.name.endswith(f".{lang}.md") for lang in LANGS)
)


def remake_hint(name: str) -> str:
    return f"remake it: python docs/guide/make_figures.py --pages {name}"


# --- fast: the pages against the committed numbers -------------------------------------------------


def test_numbers_files_are_the_page_modules() -> None:
    """mkdocs.yml reads one numbers file per page module of make_figures.py, and no other."""
    files = pages.namespaces()
    assert sorted(files) == sorted(MODULES), "mkdocs.yml's include_yaml and make_figures.PAGES differ"
    for name, path in files.items():
        assert path == GUIDE / "numbers" / f"{name}.yml", f"{name}: include_yaml reads {path}"


def test_every_page_is_in_the_nav() -> None:
    assert sorted(NAV) == PAGES, f"mkdocs.yml's nav lists {sorted(NAV)}, docs/guide holds {PAGES}"


@pytest.mark.parametrize("page", PAGES)
def test_quoted_numbers_exist(page: str) -> None:
    files = pages.namespaces()
    quoted: dict[str, set[tuple[str, str]]] = {}
    for lang in LANGS:
        path = pages.page_file(page, lang)
        assert path.exists(), f"{page}: no {lang} version ({path.relative_to(ROOT)})"
        quoted[lang] = pages.variables(path)
        missing = []
        for name, key in sorted(quoted[lang]):
            if name not in files:
                missing.append(f"{{{{ {name}.{key} }}}} ({name} is not a numbers file of mkdocs.yml)")
            elif not pages.lookup(pages.read_numbers(files[name]), key)[0]:
                missing.append(f"{{{{ {name}.{key} }}}} (not in numbers/{name}.yml: {remake_hint(name)})")
        assert not missing, f"{page} ({lang}) quotes numbers that do not exist: " + ", ".join(missing)
    # A word that differs by language ("faster" / "更快") may be its own key, suffixed with the
    # language: {{ v3.se_time_word }} in English is {{ v3.se_time_word_zh }} in Chinese.
    first, *others = LANGS
    for lang in others:
        same = {(name, key.removesuffix(f"_{lang}")) for name, key in quoted[lang]}
        only_first = sorted(f"{name}.{key}" for name, key in quoted[first] - same)
        only_other = sorted(f"{name}.{key}" for name, key in same - quoted[first])
        assert not only_first and not only_other, (
            f"{page}: the {first} and {lang} pages quote different numbers: "
            f"only in {first}: {only_first}; only in {lang}: {only_other}"
        )


def test_undefined_number_fails_the_build(tmp_path: Path) -> None:
    """A page quoting a number the numbers files lack does not build (the macros plugin is strict)."""
    config = screenshots.site_config()
    macros = screenshots.plugin("macros")
    macros["include_yaml"] = [{name: str(path)} for name, path in pages.namespaces().items()]
    tiny = {
        "site_name": "strict numbers",
        "docs_dir": str(tmp_path / "docs"),
        "theme": config["theme"],
        "nav": ["index.md"],
        "plugins": [{"i18n": screenshots.plugin("i18n")}, {"macros": macros}],
    }
    (tmp_path / "docs").mkdir()
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(tiny, allow_unicode=True))
    key = next(iter(pages.read_numbers(pages.namespaces()["v1"])))

    def build(quote: str) -> subprocess.CompletedProcess[str]:
        for lang in LANGS:
            name = pages.page_file("index.md", lang).name  # index.md, index.zh.md
            (tmp_path / "docs" / name).write_text(f"# Numbers\n\nThe count: {quote}.\n")
        return screenshots.build_site(tmp_path / "site", config=tmp_path / "mkdocs.yml")

    good = build(f"{{{{ v1.{key} }}}}")
    assert good.returncode == 0, f"the tiny site should build:\n{good.stdout}{good.stderr}"
    bad = build("{{ v1.no_such_number }}")
    assert bad.returncode != 0, "a page quoting {{ v1.no_such_number }} built without error"
    assert "no_such_number" in bad.stdout + bad.stderr


# --- slow: the figure script, once, on the reduced setting ---------------------------------------


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, digits_weights: Path) -> Path:
    """``make_figures.py --quick`` for every page module that exists, into a temporary folder.

    The deployment page needs a trained digits model; the suite's shared one stands in for the
    `make demo` model (the same recipe, shortened), so the quick run trains nothing itself.
    """
    out = tmp_path_factory.mktemp("guide-quick")
    existing = [name for name in MODULES if (GUIDE / "compute" / f"{name}.py").exists()]
    command = [sys.executable, str(GUIDE / "make_figures.py"), "--quick", "--out", str(out)]
    start = time.perf_counter()
    result = subprocess.run(
        [*command, "--pages", ",".join(existing)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GUIDE_DEMO_WEIGHTS": str(digits_weights)},
    )
    print(f"make_figures.py --quick ({', '.join(existing)}): {time.perf_counter() - start:.0f} s")
    assert result.returncode == 0, f"make_figures.py --quick failed:\n{result.stdout}{result.stderr}"
    return out


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_figures_regenerated(quick: Path, page: str) -> None:
    shown = set().union(*(pages.figures(pages.page_file(page, lang)) for lang in LANGS))
    missing = sorted(figure for figure in shown if not (quick / figure).is_file())
    assert not missing, f"{page}: make_figures.py --quick did not make {', '.join(missing)}"


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:200] + "..."


@pytest.mark.slow
@pytest.mark.parametrize("name", MODULES)
def test_exact_numbers_are_what_the_script_computes(quick: Path, name: str) -> None:
    module = pages.load_module(name)
    assert name == module.PAGE, f"compute/{name}.py: PAGE is {module.PAGE!r}, the numbers file {name}.yml"
    committed = pages.read_numbers(GUIDE / "numbers" / f"{name}.yml")
    computed = pages.read_numbers(quick / "numbers" / f"{name}.yml")
    measured = set(module.MEASURED)
    assert measured <= set(computed), (
        f"{name}: MEASURED names keys make() does not return: {measured - set(computed)}"
    )
    stale = sorted(set(committed) - set(computed))
    new = sorted(set(computed) - set(committed))
    assert not stale and not new, (
        f"numbers/{name}.yml is stale (old keys {stale}, new keys {new}): {remake_hint(name)}"
    )
    changed = [
        f"{key}: committed {short(committed[key])}, computed {short(computed[key])}"
        for key in sorted(computed)
        if key not in measured and key != "machine" and computed[key] != committed[key]
    ]
    assert not changed, (
        f"numbers/{name}.yml differs from what the script computes ({remake_hint(name)}):\n"
        + "\n".join(changed)
    )
    keys = tuple(getattr(module, "KEY_NUMBERS", ()))
    assert keys, f"compute/{name}.py declares no KEY_NUMBERS (1-3 exact keys the browser test looks for)"
    assert not set(keys) & measured, (
        f"{name}: KEY_NUMBERS must be exact, not measured: {set(keys) & measured}"
    )
    assert set(keys) <= set(computed), f"{name}: KEY_NUMBERS not computed: {set(keys) - set(computed)}"
