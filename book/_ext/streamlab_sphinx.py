"""Small Sphinx fixes for the streamlab book (loaded via _config.yml local_extensions).

Why: with Sphinx 7.4, sphinx-thebe 0.3 and sphinx-togglebutton add their inline
configuration scripts twice to every page; the second
``const THEBE_JS_URL = ...`` is a JavaScript SyntaxError in every reader's
console (and in the headless-browser test). Dropping exact duplicate
``<script>`` entries before a page is rendered removes it without touching the
theme.

Figures are numbered per chapter ("Figure 4.2" is the second figure of chapter 04, as the chapter files are
named), not through the whole book: Sphinx numbers them per section only in a numbered TOC, which would put
its own numbers (1, 2, …) before the chapters' "00 ·" … "06 ·" titles.
"""

from __future__ import annotations

import re
from typing import Any

from sphinx.application import Sphinx


def _script_key(script: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Identity of a script entry: its file and all attributes, including an inline body.

    An inline script's file name is ``None`` or ``""`` depending on which
    extension added it; both mean "no file".
    """
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return str(filename), tuple(sorted((str(k), str(v)) for k, v in attributes.items()))


def drop_duplicate_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Keep the first of identical script entries of a page."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


#: A chapter's document name and its number: book/chapters/04-profiling -> 4.
CHAPTER = re.compile(r"(?:^|/)chapters/(\d+)-")


def number_figures_by_chapter(app: Sphinx, env: Any) -> list[str]:
    """Renumber each chapter's figures (and tables, code blocks) as (chapter, 1), (chapter, 2), … in page order.

    Runs after Sphinx's own numbering (the toctree collector, on the same event); ``numref`` and the
    captions both read these numbers, so "Figure 4.2" in the text is the figure captioned "Figure 4.2".
    """
    for docname, by_type in env.toc_fignumbers.items():
        match = CHAPTER.search(docname)
        if not match:
            continue
        chapter = int(match.group(1))
        for numbers in by_type.values():
            for index, ident in enumerate(sorted(numbers, key=lambda i: numbers[i]), start=1):
                numbers[ident] = (chapter, index)
    return []


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    app.connect("env-get-updated", number_figures_by_chapter, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
