"""The answers first (issue 35): the answers page answers every row of the assignment map, within its word budget,
with figures pasted from the chapters; every chapter opens with its answer box.

Checked on the sources (fast, no build), and in a tiny book that the runner executes and builds: a figure glued
in a chapter appears on a plain Markdown page that pastes it with MyST-NB's cross-document form
``{glue:text}`chapters/<stem>.md::<key>:<format>``` (the chapter is an executed .ipynb in the mirror by then; Sphinx
resolves the path to the same document), and a paste whose key the chapter never glued fails the build.
The same tiny book executes the run-facts appendix after its chapter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import htmlcheck
import myst
import pytest
from bs4 import BeautifulSoup

from streamlab.book import wordcount

REPO = Path(__file__).resolve().parents[2]
ANSWERS = REPO / "book" / "answers.md"
MAP = REPO / "book" / "assignment-map.md"
CHAPTERS = REPO / "book" / "chapters"
WORD_BUDGET = 1_500

REF = re.compile(r"\{ref\}`(?:([^`<]*?)\s*<)?([A-Za-z0-9_-]+)>?`")
GLUE = re.compile(r"\{glue(?::[a-z]+)?\}`([^`]*)`")
#: A figure pasted from another page: the chapter's source path (relative to book/), the key, the format spec.
#: The format is not optional here: the role splits ``doc::key:fmt`` at its last colon, so a paste without one
#: reads the key as the format and names a document that does not exist.
CROSS = re.compile(r"\{glue:text\}`(?P<doc>[^`:]+)::(?P<key>[A-Za-z0-9_]+):(?P<fmt>[^`:]+)`")
ANSWER_BOX = re.compile(r"(`{3,}|:{3,})\{admonition\} The answer\n:class: answer\n")


def map_rows(text: str) -> list[tuple[str, str]]:
    """(question, label) for every row of the map's tables: the label is the first section the row names."""
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or set(cells[0]) <= {"-", " "}:
            continue
        refs = REF.findall(cells[1])
        if refs:
            rows.append((cells[0], refs[0][1]))
    return rows


def entries(text: str) -> list[str]:
    """The page's list items, each with its continuation lines."""
    items: list[str] = []
    for line in text.splitlines():
        if line.startswith("- "):
            items.append(line[2:])
        elif items and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
        elif not line.strip() or line.startswith("#"):
            items.append("") if items and items[-1] else None
    return [item for item in items if item]


def stated_words(entry: str) -> int:
    """Words of the entry's own sentence: without the link to its section and without pasted figures."""
    return wordcount.words(GLUE.sub(" ", REF.sub(" ", entry)))


def glues_key(chapter_text: str, key: str) -> bool:
    """Whether a chapter glues ``key``: its code names it literally (``glue("key", ...)``), an f-string glue of its
    makes it (``glue(f"{broker}_sent", ...)``), its code has it as a dict's key it glues in a loop, or its own
    prose pastes it (proven by the chapter's own build, where an unresolved paste is an error)."""
    if re.search(r"glue\(\s*\"" + re.escape(key) + r"\"", chapter_text) or re.search(r"\"" + re.escape(key) + r"\":",
                                                                                       chapter_text):
        return True
    for template in re.findall(r"glue\(\s*f\"([^\"]+)\"", chapter_text):
        pattern = "".join("[A-Za-z0-9_]+" if part.startswith("{") else re.escape(part)
                          for part in re.split(r"(\{[^}]*\})", template))
        if re.fullmatch(pattern, key):
            return True
    return any(m.split(":", 1)[0] == key for m in GLUE.findall(chapter_text) if "::" not in m)


#: A code cell a build may leave out (tagged ``needs:<tool>``: podman sections skip where the build has none,
#: as the test suite's does), and the Markdown that comes with it: a key glued only there is not always glued.
NEEDS_CELL = re.compile(r"```\{code-cell\}[^\n]*\n(?::tags: \[[^\]]*needs:[^\]]*\]\n|---\n(?:(?!---\n).)*?"
                        r"needs:(?:(?!---\n).)*---\n).*?```", re.S)
NEEDS_TEXT = re.compile(r"^\+\+\+ \{[^\n]*\"needs:[^\n]*\}\n.*?(?=^\+\+\+|^```|\Z)", re.S | re.M)


def always_run(chapter_text: str) -> str:
    """The chapter without what a build may skip (cells and Markdown tagged ``needs:``)."""
    return NEEDS_CELL.sub("", NEEDS_TEXT.sub("", chapter_text))


def answers_problems(answers: str, map_text: str, chapters: dict[str, str]) -> list[str]:
    """What is wrong with an answers page against the map and the chapter sources (by path relative to book/)."""
    problems = []
    by_label: dict[str, list[str]] = {}
    for entry in entries(answers):
        for _text, label in REF.findall(entry):
            by_label.setdefault(label, []).append(entry)
    for question, label in map_rows(map_text):
        found = by_label.get(label, [])
        if not found:
            problems.append(f"{question!r}: no entry links {label}")
            continue
        entry = found[0]
        if not CROSS.search(entry) and stated_words(entry) < 8:
            problems.append(f"{question!r}: the entry for {label} has no pasted figure and no stated answer")
    for match in GLUE.finditer(answers):
        cross = CROSS.fullmatch(match.group(0))
        if cross is None:
            problems.append(f"{match.group(0)}: not a paste of the form chapters/<stem>.md::<key>:<format>")
            continue
        source = chapters.get(cross["doc"])
        if source is None:
            problems.append(f"{match.group(0)}: no chapter {cross['doc']}")
        elif not glues_key(source, cross["key"]):
            problems.append(f"{match.group(0)}: {cross['doc']} glues no key {cross['key']!r}")
        elif not glues_key(always_run(source), cross["key"]):
            problems.append(f"{match.group(0)}: {cross['doc']} glues {cross['key']!r} only in a section a build may "
                            f"skip (tagged needs:): the test build, without podman, fails on it")
    return problems


def rendered_words(text: str, titles: dict[str, str]) -> int:
    """Prose words the page will show: a pasted figure is one word, a {doc} link its page's title, a {ref} its
    text; the label lines and the front matter are not shown."""
    text = re.sub(r"^\(\S+\)=$", "", text, flags=re.MULTILINE)
    text = CROSS.sub("X", text)
    text = re.sub(r"\{doc\}`([^`]+)`", lambda m: titles.get(m.group(1), m.group(1)), text)
    text = REF.sub(lambda m: m.group(1) or m.group(2), text)
    return wordcount.words(re.sub(r"[*`#]", " ", text))


def _sources() -> dict[str, str]:
    return {f"chapters/{p.name}": p.read_text(encoding="utf-8") for p in sorted(CHAPTERS.glob("*.md"))}


def _title(path: Path) -> str:
    match = re.search(r"^# (.+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return match.group(1) if match else path.stem


# --------------------------------------------------------------------------- the page as written


def test_every_row_of_the_assignment_map_has_an_answer_with_its_figure_or_a_stated_answer() -> None:
    answers = ANSWERS.read_text(encoding="utf-8")
    map_text = MAP.read_text(encoding="utf-8")
    assert len(map_rows(map_text)) >= 40, "the map's tables were not read"
    assert answers_problems(answers, map_text, _sources()) == []


def test_the_answers_page_stays_within_its_word_budget() -> None:
    titles = {f"appendix/{p.stem}": _title(p) for p in (REPO / "book" / "appendix").glob("*.md")}
    titles["assignment-map"] = _title(MAP)
    words = rendered_words(ANSWERS.read_text(encoding="utf-8"), titles)
    assert 500 < words <= WORD_BUDGET, f"the answers page has {words:,} words (budget {WORD_BUDGET:,})"


def test_the_checks_fail_where_they_should() -> None:
    """A row without entry, an entry that only links, a key the chapter does not glue, a paste without format."""
    map_text = ("| the assignment asks | answered in |\n| --- | --- |\n| Q1 | {ref}`s-one` |\n| Q2 | {ref}`s-two` |\n"
                "| Q3 | {ref}`s-three` |\n")
    chapters = {"chapters/01-a.md": ('glue("c01_rate", rate, display=False)\nIt ran at {glue:text}`c01_made:.1f`.\n'
                                     'for b in ("kafka", "rabbitmq"):\n    glue(f"c01_{b}_sent", n[b], display=False)')}
    answers = ("- **{ref}`Q1 <s-one>`.** It sent {glue:text}`chapters/01-a.md::c01_rate:,.0f` records/s, "
               "{glue:text}`chapters/01-a.md::c01_kafka_sent:,` in all.\n"
               "- **{ref}`Q2 <s-two>`.** See there.\n"
               "- {glue:text}`chapters/01-a.md::c01_nope:.1f` and {glue:text}`chapters/01-a.md::c01_made`\n")
    problems = answers_problems(answers, map_text, chapters)
    assert any("Q3" in p and "no entry" in p for p in problems)
    assert any("Q2" in p and "no pasted figure" in p for p in problems)
    assert any("c01_nope" in p and "glues no key" in p for p in problems)
    assert any("c01_made`" in p and "not a paste" in p for p in problems)
    skipped = {"chapters/01-a.md": chapters["chapters/01-a.md"] + (
        '\n+++ {"tags": ["needs:podman"]}\n\nIn containers: {glue:text}`c01_box:.0f` ms.\n\n'
        '```{code-cell} ipython3\n:tags: [remove-input, needs:podman]\n\nglue("c01_pod", p99, display=False)\n```\n'
        '```{code-cell} ipython3\n---\nmystnb:\n  figure:\n    name: f\ntags: [needs:podman]\n---\n'
        'glue("c01_fig", p99, display=False)\n```\n')}
    for key in ("c01_pod", "c01_box", "c01_fig"):
        pasted = answers.replace("c01_nope", key)
        assert any(key in p and "only in a section a build may skip" in p
                   for p in answers_problems(pasted, map_text, skipped)), key
    assert not any("c01_rate" in p for p in answers_problems(answers, map_text, skipped))
    assert not any("Q1" in p or "c01_rate" in p for p in problems)
    assert answers_problems(answers.replace("c01_nope", "c01_made").replace("c01_made`", "c01_made:.1f`")
                            .replace("See there.", "It answered with a whole sentence of its own words."),
                            map_text.replace("| Q3 | {ref}`s-three` |\n", ""), chapters) == []


def test_the_answer_box_is_recognised_in_the_convention_s_form_only() -> None:
    box = "```{admonition} The answer\n:class: answer\n\n- Kafka lost none.\n```\n"
    assert ANSWER_BOX.match(box) and ANSWER_BOX.match(box.replace("```", "````"))
    assert not ANSWER_BOX.match(box.replace(":class: answer", ":class: note"))
    assert not ANSWER_BOX.match("This chapter explores...\n\n" + box)


def test_the_answers_page_is_main_text_and_the_appendices_are_not() -> None:
    assert not wordcount.PageCount("book/answers.html", "", 1, 0, 0, 0).appendix
    assert wordcount.PageCount("book/appendix/run-facts.html", "", 1, 0, 0, 0).appendix


@pytest.mark.parametrize("chapter", sorted(CHAPTERS.glob("*.md")), ids=lambda p: p.stem)
def test_every_chapter_opens_with_its_answer_box(chapter: Path) -> None:
    """Convention 1 of issue 35: the first element after the chapter's `# Title` line is its answer box."""
    text = chapter.read_text(encoding="utf-8")
    title = re.search(r"^# .+\n", text, flags=re.MULTILINE)
    assert title, f"{chapter.name} has no # title"
    assert ANSWER_BOX.match(text[title.end():].lstrip("\n")), (
        f"{chapter.name}: the first element after its title is not ```{{admonition}} The answer / :class: answer")


# --------------------------------------------------------------------------- pasted in a built book


CHAPTER = myst.HEADER + """
(a-section)=
# 01 · A chapter

```{code-cell} ipython3
:tags: [parameters, remove-cell]

profile = "quick"
output_dir = ""
```

```{code-cell} ipython3
:tags: [remove-cell]

from myst_nb import glue

from streamlab.book import results_dir, save_run_facts

out = results_dir(output_dir, "01-a")
save_run_facts(out, "01-a", profile)
glue("c01_rate", 12345.6, display=False)
glue("c01_name", "kafka", display=False)
```

It sent {glue:text}`c01_rate:,.1f` records/s.
"""

ANSWERS_PAGE = """# The answers

- **{ref}`A chapter <a-section>`.** It sent {glue:text}`chapters/01-a.md::c01_rate:,.0f` records/s on
  {glue:text}`chapters/01-a.md::c01_name:s`.
"""

TOC = """format: jb-book
root: book/intro
parts:
  - chapters:
      - file: book/answers
      - file: book/chapters/01-a
  - caption: Appendices
    chapters:
      - file: book/appendix/run-facts
"""


def _runner(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STREAMLAB_RESULTS_DB": str(root / "results.sqlite"),
           "STREAMLAB_WARMUP_RECORD": str(root / "broker-warmup.csv")}
    return subprocess.run([sys.executable, "-m", "streamlab.book", "--root", str(root), "--build"],
                          cwd=root, capture_output=True, text=True, check=False, env=env, timeout=600)


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The book's config, extension and styles, one chapter, an answers page and the real run-facts appendix,
    executed and built by the runner (a kernel, no broker)."""
    root = tmp_path_factory.mktemp("answers-book")
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    for folder in ("_ext", "_static"):
        shutil.copytree(REPO / "book" / folder, root / "book" / folder)
    (root / "book/chapters").mkdir(parents=True)
    (root / "book/appendix").mkdir()
    shutil.copy(REPO / "book/appendix/run-facts.md", root / "book/appendix/run-facts.md")
    (root / "_toc.yml").write_text(TOC, encoding="utf-8")
    (root / "book/intro.md").write_text("# Intro\n", encoding="utf-8")
    (root / "book/profiles.yaml").write_text("quick:\n  default: {}\nfull:\n  default: {}\n", encoding="utf-8")
    (root / "book/chapters/01-a.md").write_text(CHAPTER, encoding="utf-8")
    (root / "book/answers.md").write_text(ANSWERS_PAGE, encoding="utf-8")
    return root, _runner(root)


def _built(tiny_book: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    """The tiny book's root, once its build is known to have passed."""
    root, proc = tiny_book
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def test_a_figure_glued_in_a_chapter_is_pasted_on_the_answers_page(tiny_book) -> None:
    root = _built(tiny_book)
    page = (root / "_build/html/book/answers.html").read_text(encoding="utf-8")
    assert '<span class="pasted-text">12,346</span>' in page and '<span class="pasted-text">kafka</span>' in page
    assert 'href="chapters/01-a.html#a-section"' in page


def test_the_run_facts_appendix_runs_after_the_chapters_and_shows_one_row_each(tiny_book) -> None:
    root = _built(tiny_book)
    assert (root / "_build/executed/book/chapters/01-a_files/run-facts.json").is_file()
    page = (root / "_build/html/book/appendix/run-facts.html").read_text(encoding="utf-8")
    assert "logical cores" in page and "every chapter" in page
    assert "<td>01-a</td>" in page


def test_an_answers_page_pasting_a_key_the_chapter_does_not_glue_fails_the_build(tiny_book) -> None:
    root = _built(tiny_book)
    (root / "book/answers.md").write_text(ANSWERS_PAGE.replace("c01_rate", "c01_never_glued"), encoding="utf-8")
    failed = _runner(root)
    assert failed.returncode == 3, failed.stderr[-3000:]  # EXIT_BUILD_FAILED: warnings are errors
    assert "c01_never_glued" in failed.stderr


def test_the_html_check_finds_a_paste_the_build_dropped(tiny_book, tmp_path: Path) -> None:
    """Built without -W, an unresolved paste only leaves a hole; the page check counts the source's pastes."""
    root = _built(tiny_book)
    html = root / "_build/html"
    for page in (html / "book/answers.html", html / "book/chapters/01-a.html"):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        assert htmlcheck.unresolved_pastes(soup, page, html) == []
        for span in soup.select("span.pasted-text")[:1]:
            span.decompose()
        assert [p.kind for p in htmlcheck.unresolved_pastes(soup, page, html)] == ["unresolved-paste"]
