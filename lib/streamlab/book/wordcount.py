"""How much a reader meets on each page of the built book: prose words, words in tables, tables, figures.

    python -m streamlab.book.wordcount [_build/html]

Why from the HTML and not from the Markdown sources. What a reader reads is the
page after execution: glued numbers are words, a chapter's code cells are not,
and a table a cell printed counts as a table. So the count walks each page's
article as Sphinx wrote it, drops code inputs, the text that stdout or stderr put
on the page, heading anchors and the page's navigation, and splits what is left
into words in tables and the rest (prose, headings, captions, footnotes).
Pages under ``book/appendix/`` are counted apart: the main text is what the
book asks a grader to read, the appendices are one link away.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

WORD = re.compile(r"[\w’'.,%×÷+\-/]*\w[\w’'.,%×÷+\-/]*")
SKIPPED_FOLDERS = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static"}
SKIPPED_PAGES = {"genindex.html", "search.html", "py-modindex.html"}
APPENDIX = "book/appendix/"
# Output a cell streamed (print, logging) is not prose a reader is meant to read.
STREAMS = ("div.output.stream", "div.output.stderr", "div.stderr", "div.output.traceback")


@dataclass(frozen=True)
class PageCount:
    """What one page puts before its reader."""

    page: str  # the page's path relative to the HTML root, e.g. book/chapters/01-application.html
    title: str
    prose_words: int
    table_words: int
    tables: int
    figures: int

    @property
    def appendix(self) -> bool:
        return self.page.startswith(APPENDIX)


def words(text: str) -> int:
    """Words as a reader counts them: a number like 1,234.5 or a ratio like 0.86× is one word."""
    return len(WORD.findall(text))


def count_page(html: str, page: str) -> PageCount:
    """Count one page's article (the whole body when the theme's article element is missing)."""
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else page
    article = soup.select_one("article.bd-article") or soup.select_one("main") or soup.body or soup
    for junk in article.select("script, style, nav, a.headerlink, div.cell_input, " + ", ".join(STREAMS)):
        junk.decompose()
    figures = len(article.select("figure")) + sum(
        1 for image in article.select("img, svg") if image.find_parent("figure") is None
    )
    tables = article.select("table")
    outer = [table for table in tables if table.find_parent("table") is None]
    table_words = sum(words(table.get_text(" ")) for table in outer)
    for table in outer:
        table.decompose()
    prose_words = words(article.get_text(" "))
    return PageCount(page, title, prose_words, table_words, len(outer), figures)


def pages(html_root: Path) -> Iterable[Path]:
    """The book's own pages: not the search page, the index or the theme's static files."""
    for path in sorted(html_root.rglob("*.html")):
        relative = path.relative_to(html_root)
        if relative.parts[0] in SKIPPED_FOLDERS or relative.name in SKIPPED_PAGES:
            continue
        yield path


def count_book(html_root: Path) -> list[PageCount]:
    return [
        count_page(path.read_text(encoding="utf-8"), path.relative_to(html_root).as_posix())
        for path in pages(html_root)
    ]


def markdown_table(counts: Sequence[PageCount]) -> str:
    """The table of issue 35's form, with a total for the main text and one for the appendices."""
    lines = ["| page | prose words | words in tables | tables | figures |", "|---|---:|---:|---:|---:|"]
    for row in counts:
        lines.append(f"| {row.page} | {row.prose_words:,} | {row.table_words:,} | {row.tables} | {row.figures} |")
    for label, part in (("main text", [c for c in counts if not c.appendix]),
                        ("appendices", [c for c in counts if c.appendix])):
        lines.append(
            f"| **{label}** | **{sum(c.prose_words for c in part):,}** | {sum(c.table_words for c in part):,} "
            f"| {sum(c.tables for c in part)} | {sum(c.figures for c in part)} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamlab.book.wordcount", description=__doc__.splitlines()[0])
    parser.add_argument("html_root", type=Path, nargs="?", default=Path("_build/html"))
    args = parser.parse_args(argv)
    if not (args.html_root / "index.html").is_file():
        print(f"error: no built book at {args.html_root}: run `make book` first", file=sys.stderr)
        return 2
    print(markdown_table(count_book(args.html_root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
