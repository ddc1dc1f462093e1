"""Small Sphinx fixes for the streamlab book (loaded via _config.yml local_extensions).

Why: with Sphinx 7.4, sphinx-thebe 0.3 and sphinx-togglebutton add their inline
configuration scripts twice to every page; the second
``const THEBE_JS_URL = ...`` is a JavaScript SyntaxError in every reader's
console (and in the headless-browser test). Dropping exact duplicate
``<script>`` entries before a page is rendered removes it without touching the
theme.
"""

from __future__ import annotations

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


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
