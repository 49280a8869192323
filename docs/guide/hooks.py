"""MkDocs hooks for the guide (mkdocs.yml ``hooks:``).

Material looks for a ``sitemap.xml`` beside each language's pages (it fetches one for every
``<link rel="alternate">`` in a page's head, to map a page to its translation), but
mkdocs-static-i18n writes a single sitemap, at the site's root, that lists every language. Without
a copy in each language's folder, every page logged a 404 for ``zh/sitemap.xml`` in the browser
console. The root sitemap already holds every page's alternates, so each language gets a copy.

Chinese pages are wrapped at ~100 columns like the English ones, and Markdown turns each line
break into a space: between two Chinese characters that shows as a stray gap. Those breaks are
joined before the page is rendered.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

# A line break with a CJK character or full-width punctuation on both sides (emphasis marks allowed).
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_CJK_BREAK = re.compile(f"([{_CJK}][*_]{{0,2}})\n([*_]{{0,2}}[{_CJK}])")


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if not page.file.src_uri.endswith(".zh.md"):
        return markdown
    return _CJK_BREAK.sub(r"\1\2", markdown)


@event_priority(-200)  # after mkdocs-static-i18n's own post-build (-100), which builds the other languages
def on_post_build(config: MkDocsConfig) -> None:
    site = Path(config.site_dir)
    i18n = config.plugins.get("i18n")
    if i18n is None:
        return
    for language in i18n.config.languages:
        folder = site / language.locale
        if language.default or not folder.is_dir():
            continue
        for name in ("sitemap.xml", "sitemap.xml.gz"):
            if (site / name).exists():
                shutil.copyfile(site / name, folder / name)
