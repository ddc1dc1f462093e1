"""The assignment map (book/assignment-map.md) points at sections that exist and are finished.

Checked on the sources here (fast, no build): every `{ref}` of the map names a label defined once in
a chapter, and the section under that label holds no "Being built" box; the map covers every part of
the assignment and all nine deep dives. The built HTML is checked in test_book_html.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAP = REPO / "book" / "assignment-map.md"
CHAPTERS = REPO / "book" / "chapters"

REF = re.compile(r"\{ref\}`([^`<]+)`")
LABEL = re.compile(r"^\(([A-Za-z0-9_-]+)\)=$", re.MULTILINE)
HEADING = re.compile(r"^(#{1,6}) ", re.MULTILINE)
PARTS = ("Intro to Kafka", "Part 1", "Part 2", "Part 3", "Part 4", "Reflection")
BONUSES = ("Bonus 1", "Bonus 2", "Bonus 3", "Bonus 4")


def labelled_sections(sources: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """label → [(chapter, text of the section under it, up to the next heading of its level or above)]."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for name, text in sources.items():
        for match in LABEL.finditer(text):
            heading = HEADING.match(text, match.end() + 1)
            if heading is None:
                sections.setdefault(match.group(1), []).append((name, ""))
                continue
            level = len(heading.group(1))
            end = len(text)
            for later in HEADING.finditer(text, heading.end()):
                if len(later.group(1)) <= level:
                    end = later.start()
                    break
            sections.setdefault(match.group(1), []).append((name, text[heading.start():end]))
    return sections


def map_problems(map_text: str, sources: dict[str, str]) -> list[str]:
    """What is wrong with a map against the chapter sources; empty when every entry holds."""
    sections = labelled_sections(sources)
    problems = []
    for label in dict.fromkeys(REF.findall(map_text)):
        found = sections.get(label, [])
        if not found:
            problems.append(f"{label}: no chapter defines this label")
        elif len(found) > 1:
            problems.append(f"{label}: defined in {len(found)} places")
        elif not found[0][1]:
            problems.append(f"{label}: not followed by a heading in {found[0][0]}")
        elif "class: building" in found[0][1] or "Being built" in found[0][1]:
            problems.append(f"{label}: the section in {found[0][0]} still holds a 'Being built' box")
    return problems


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(CHAPTERS.glob("*.md"))}


def test_every_entry_points_at_one_finished_section(sources):
    assert map_problems(MAP.read_text(encoding="utf-8"), sources) == []


def test_the_map_covers_every_part_bonus_and_deep_dive():
    text = MAP.read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    for part in PARTS:
        assert any(part in heading for heading in headings), f"no section of the map for {part}"
    for bonus in BONUSES:
        assert bonus in text, f"{bonus} is not in the map"
    deep_dives = text.split("## Part 2", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"\{ref\}`dd-", deep_dives)) >= 9 + 2   # nine deep dives, use cases, Bonus 2


def test_the_check_fails_on_a_missing_label_a_duplicate_and_an_unfinished_section():
    sources = {
        "a.md": "(done)=\n## Done\n\nMeasured.\n\n(twice)=\n## One\n",
        "b.md": "(twice)=\n## Two\n\n(todo)=\n## Todo\n\n:::{admonition} Being built\n:class: building\n:::\n"
                "\n## Next section\n",
    }
    text = "{ref}`done` {ref}`gone` {ref}`twice` {ref}`todo`"
    assert map_problems(text, sources) == [
        "gone: no chapter defines this label",
        "twice: defined in 2 places",
        "todo: the section in b.md still holds a 'Being built' box",
    ]
    # the box of a later section does not count against the one before it
    later_box = "(done)=\n## Done\n\n## Later\n\n:::{admonition} x\n:class: building\n:::\n"
    assert map_problems("{ref}`done`", {"a.md": later_box}) == []


def test_no_heading_or_label_lives_in_a_cell_a_machine_may_drop():
    """A `needs:`/`needs-not:` cell is removed where the capability is missing (or left out): a heading or
    label inside one would vanish with it, and the map's link, the TOC entry and the -W build with it."""
    import jupytext

    found = []
    for path in sorted(CHAPTERS.glob("*.md")):
        for cell in jupytext.read(path).cells:
            tags = cell.metadata.get("tags", [])
            if cell.cell_type == "markdown" and any(t.startswith(("needs:", "needs-not:")) for t in tags):
                found += [f"{path.name}: {line}" for line in cell.source.splitlines()
                          if LABEL.match(line) or HEADING.match(line)]
    assert found == []
