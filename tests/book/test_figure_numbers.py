"""Figures numbered per chapter ("Figure 4.2"), by the book's Sphinx extension (book/_ext)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "book" / "_ext"))

import streamlab_sphinx


def test_each_chapters_figures_count_from_one_under_its_own_number() -> None:
    env = SimpleNamespace(toc_fignumbers={
        "book/chapters/04-profiling": {"figure": {"fig-b": (9,), "fig-a": (7,)}, "table": {"t": (3,)}},
        "book/chapters/00-cluster-tour": {"figure": {"fig-c": (1,), "fig-d": (2,)}},
        "book/intro": {"figure": {"fig-e": (12,)}},
    })
    assert streamlab_sphinx.number_figures_by_chapter(None, env) == []  # type: ignore[arg-type]
    assert env.toc_fignumbers["book/chapters/04-profiling"] == {"figure": {"fig-a": (4, 1), "fig-b": (4, 2)},
                                                                "table": {"t": (4, 1)}}
    assert env.toc_fignumbers["book/chapters/00-cluster-tour"]["figure"] == {"fig-c": (0, 1), "fig-d": (0, 2)}
    assert env.toc_fignumbers["book/intro"]["figure"] == {"fig-e": (12,)}
