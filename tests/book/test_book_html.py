"""The built book, loaded page by page in headless Chromium.

Every page of the TOC must load, show no error output, no missing or remote
image, no empty figure, no dead local link and no uncaught JavaScript error; and
none of issue 32's broken output (NaN/None cells, "not measured yet", header-only
tables, cells cut with "…", stderr blocks and client log lines, a table or chart
wider than the column at 1280 or 800 px, SVG text too small to read).
A screenshot of each page lands in _build/screenshots/. A deliberately broken
myst-nb build proves the checks fail where they should.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import htmlcheck
import myst
import nbformat
import pandas as pd
import pytest
import yaml

from plugins.capabilities import IN_CI
from streamlab.book.layout import toc_docnames

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.book,
    # the first test builds the quick book in the session fixture: about 20 min of chapters on a loaded two-worker run
    pytest.mark.timeout(2700),
    pytest.mark.skipif(not Path(htmlcheck.CHROMIUM).exists() and not IN_CI,   # CI: fails on the missing browser
                       reason="needs Debian's chromium (make setup)"),
]

TOC_PAGES = toc_docnames(yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8")))


@pytest.mark.parametrize("docname", TOC_PAGES)
def test_page_renders_without_problems(built_book: Path, screenshots_dir: Path, docname: str) -> None:
    page = built_book / f"{docname}.html"
    assert page.is_file(), f"{docname} of _toc.yml was not built"
    shot = screenshots_dir / (docname.replace("/", "__") + ".png")
    loaded = htmlcheck.load_page(page, screenshot=shot)
    problems = htmlcheck.check_dom(loaded.dom, page, built_book) + htmlcheck.js_errors(loaded.console)
    for window in ("1280,2000", "800,2000"):   # a laptop, and a narrow window without the sidebar (issue 32)
        problems += [htmlcheck.Problem(p.kind, f"at {window.split(',')[0]} px: {p.detail}")
                     for p in htmlcheck.layout_problems(htmlcheck.measure_layout(page, window=window), page,
                                                        built_book)]
    assert not problems, f"{docname}:\n" + "\n".join(f"  {p}" for p in problems)
    assert shot.is_file() and shot.stat().st_size > 10_000, f"no real screenshot at {shot}"


def test_index_redirects_to_the_first_page(built_book: Path) -> None:
    index = (built_book / "index.html").read_text(encoding="utf-8")
    match = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', index, flags=re.IGNORECASE)
    assert match, "index.html is not a redirect"
    assert (built_book / match.group(1)).is_file()


def test_every_chapter_shows_its_profile_and_the_run_facts_page_the_machine(built_book: Path) -> None:
    """The measuring rules: each executed chapter states its profile (the runner's line under its opening); the
    machine and each chapter's conditions are on one appendix page, a row per chapter."""
    chapters = [docname for docname in TOC_PAGES if "/chapters/" in docname]
    for docname in chapters:
        text = (built_book / f"{docname}.html").read_text(encoding="utf-8")
        assert "with profile" in text, f"{docname} does not say its profile"
    facts = (built_book / "book/appendix/run-facts.html").read_text(encoding="utf-8")
    assert "logical cores" in facts
    missing = [docname for docname in chapters if f">{docname.rsplit('/', 1)[1]}<" not in facts]
    assert missing == [], f"the run-facts page has no row for {missing}"


# --------------------------------------------------------------------------- the checker can fail


def _broken_notebook() -> nbformat.NotebookNode:
    """An executed notebook with an error output, a missing image and a chart of no data."""
    import altair as alt

    import streamlab.plots  # noqa: F401  (house style and SVG renderer)

    empty = alt.Chart(pd.DataFrame({"x": [], "y": []})).mark_line().encode(x="x:Q", y="y:Q")
    error = nbformat.v4.new_code_cell("1 / 0", execution_count=1)
    error.outputs = [
        nbformat.v4.new_output(
            "error", ename="ZeroDivisionError", evalue="division by zero",
            traceback=["ZeroDivisionError: division by zero"],
        )
    ]  # fmt: skip
    chart = nbformat.v4.new_code_cell("chart", execution_count=2)
    svg = empty._repr_mimebundle_()["image/svg+xml"]
    chart.outputs = [nbformat.v4.new_output("execute_result", execution_count=2, data={"image/svg+xml": svg})]
    title = nbformat.v4.new_markdown_cell("# Broken\n\n![gone](gone.png)\n")
    nb = nbformat.v4.new_notebook(cells=[title, error, chart])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-page myst-nb build of ``_broken_notebook()``.

    Built by jupyter-book from a hand-made executed notebook, so the test sees
    exactly the HTML myst-nb emits for these cases (no kernel needed).
    """
    root = tmp_path_factory.mktemp("broken-book")
    config = 'title: broken\nonly_build_toc_files: true\nexecute: {execute_notebooks: "off"}\n'
    (root / "_config.yml").write_text(config)
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: broken\n")
    (root / "intro.md").write_text("# Intro\n")
    nbformat.write(_broken_notebook(), root / "broken.ipynb")
    build = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
             "build", str(root), "--path-output", str(root)]  # fmt: skip
    proc = subprocess.run(build, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return root / "_build" / "html"


def test_checker_catches_what_myst_nb_emits_for_broken_cells(broken_site: Path) -> None:
    page = broken_site / "broken.html"
    loaded = htmlcheck.load_page(page)
    kinds = {p.kind for p in htmlcheck.check_dom(loaded.dom, page, broken_site)}
    assert {"error-output", "missing-image", "empty-figure"} <= kinds


# --------------------------------------------------------------------------- the runner's failure path


FAILING_CHAPTER = myst.HEADER + """
# 00 · A chapter that fails

```{code-cell} ipython3
:tags: [parameters, remove-cell]
profile = "quick"
output_dir = "."
```

```{code-cell} ipython3
value = 1
value / 0
```
"""


def test_runner_stops_on_a_failing_cell_and_names_it(tmp_path: Path) -> None:
    """A failing cell stops the run with one line naming file:line and error; the notebook is kept.

    A tiny book of its own: the real chapters need live brokers and minutes.
    """
    shutil.copy(REPO / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "book/chapters").mkdir(parents=True)
    shutil.copy(REPO / "book/intro.md", tmp_path / "book/intro.md")
    (tmp_path / "book/profiles.yaml").write_text("quick:\n  default: {}\nfull:\n  default: {}\n")
    toc = "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/chapters/00-cluster-tour\n"
    (tmp_path / "_toc.yml").write_text(toc)
    chapter = tmp_path / "book/chapters/00-cluster-tour.md"
    chapter.write_text(FAILING_CHAPTER, encoding="utf-8")
    bad_line = FAILING_CHAPTER.splitlines().index("value = 1") + 1

    proc = subprocess.run(
        [sys.executable, "-m", "streamlab.book", "--root", str(tmp_path), "--no-build"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert f"book/chapters/00-cluster-tour.md:{bad_line}" in proc.stderr
    assert "ZeroDivisionError: division by zero" in proc.stderr
    assert "Traceback (most recent call last)" not in proc.stderr
    kept = tmp_path / "_build/executed/book/chapters/00-cluster-tour.ipynb"
    assert kept.is_file() and "ZeroDivisionError" in kept.read_text(encoding="utf-8")
    assert not (tmp_path / "_build/executed/book/chapters/00-cluster-tour.md").exists()


def test_every_section_of_the_assignment_map_is_in_the_built_book(built_book: Path) -> None:
    """Each link of the map leads to an anchor that exists, in a section without a 'Being built' box."""
    from bs4 import BeautifulSoup

    page = built_book / "book" / "assignment-map.html"
    links = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select("a.reference.internal")
    targets = {link["href"] for link in links if "#" in link["href"] and not link["href"].startswith("#")}
    assert len(targets) >= 40, f"the map links only {len(targets)} sections"
    problems = []
    for href in sorted(targets):
        file, anchor = href.split("#", 1)
        html = BeautifulSoup((page.parent / file).read_text(encoding="utf-8"), "html.parser")
        target = html.find(id=anchor)
        if target is None:
            problems.append(f"{href}: no such anchor")
            continue
        section = target if target.name == "section" else target.find_parent("section")
        if section is not None and section.select("div.admonition.building"):
            problems.append(f"{href}: the section still holds a 'Being built' box")
    assert problems == []


def test_every_result_file_is_linked_from_the_page_that_shows_it(built_book: Path) -> None:
    """A reader can download each result table (CSV) and each profile (`.prof`) from its chapter's page."""
    from bs4 import BeautifulSoup

    unlinked = []
    for docname in TOC_PAGES:
        page = built_book / f"{docname}.html"
        files = page.parent / f"{page.stem}_files"
        if not files.is_dir():
            continue
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        linked = {htmlcheck.resolve_local(str(a["href"]), page, built_book) for a in soup.find_all("a", href=True)}
        results = [*files.glob("*.csv"), *files.rglob("*.prof")]
        unlinked += [str(f.relative_to(built_book)) for f in sorted(results) if f.resolve() not in linked]
    assert unlinked == [], f"{len(unlinked)} result files no page links to"
