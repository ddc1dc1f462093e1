"""Rebuild only what changed: the content hash per chapter, and reuse against re-execution.

The hash tests need neither kernel nor broker. The runner tests execute a tiny book of their own with
the real kernel (a few seconds each): a chapter that counts its executions in a file beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import myst
import nbformat
import pytest

from streamlab.book import cache, runner
from streamlab.book.execute import prepare_chapter
from streamlab.book.layout import Chapter, Layout, discover_chapters
from streamlab.book.parameters import load_profiles

HEADER = myst.HEADER

#: A chapter that counts its executions in a file of the chapters' folder and saves a result.
COUNTING = HEADER + """
# {title}

{prose}

```{{code-cell}} ipython3
:tags: [parameters]

profile = "quick"
output_dir = ""
rate = 1
```

```{{code-cell}} ipython3
from pathlib import Path
with open("{stem}.count", "a") as counter:
    counter.write("x")
Path(output_dir, "result.csv").write_text(str(rate))
{code}
```
"""

PROFILES = "quick:\n  default: {rate: 1}\nfull:\n  default: {rate: 5}\n"
STACK = {"stack": "local", "brokers": 3, "rabbit_nodes": 1}


def _write_chapter(root: Path, stem: str, title: str = "A", prose: str = "Some prose.", code: str = "") -> None:
    text = COUNTING.format(title=title, prose=prose, stem=stem, code=code)
    (root / f"book/chapters/{stem}.md").write_text(text, encoding="utf-8")


def _book(root: Path, stems: tuple[str, ...] = ("01-a", "02-b")) -> Layout:
    (root / "book/chapters").mkdir(parents=True)
    (root / "lib/streamlab").mkdir(parents=True)
    (root / "lib/streamlab/module.py").write_text("X = 1\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "README.md").write_text("readme\n")
    (root / "_config.yml").write_text("title: t\n")
    entries = "".join(f"  - file: book/chapters/{stem}\n" for stem in stems)
    (root / "_toc.yml").write_text(f"format: jb-book\nroot: book/intro\nchapters:\n{entries}")
    (root / "book/intro.md").write_text("# Intro\n")
    (root / "book/profiles.yaml").write_text(PROFILES)
    for stem in stems:
        _write_chapter(root, stem)
    return Layout(root, root / "_build")


def _keys(root: Path, profile: str = "quick", stack: dict | None = None) -> dict[str, cache.RunKey]:
    layout = Layout(root, root / "_build")
    chapters = discover_chapters(root)
    profiles = load_profiles(root / "book/profiles.yaml")
    inputs = runner.Inputs(cache.library_digest(root), stack or STACK)
    return {ch.stem: runner.run_key(prepare_chapter(ch, layout, profiles, profile, {}), layout, chapters, inputs)
            for ch in chapters}  # fmt: skip


# --------------------------------------------------------------------------- the hash


def test_a_chapters_code_changes_its_key_and_no_other(tmp_path: Path) -> None:
    _book(tmp_path)
    before = _keys(tmp_path)
    _write_chapter(tmp_path, "01-a", code="print('more')")
    after = _keys(tmp_path)
    assert after["01-a"].changed(before["01-a"]) == ["code"]
    assert after["02-b"] == before["02-b"]


def test_prose_is_not_an_input_of_the_execution(tmp_path: Path) -> None:
    _book(tmp_path)
    before = _keys(tmp_path)
    _write_chapter(tmp_path, "01-a", title="A, retitled", prose="Other prose.")
    assert _keys(tmp_path) == before


def test_the_profile_changes_every_chapters_parameters(tmp_path: Path) -> None:
    _book(tmp_path)
    quick, full = _keys(tmp_path, "quick"), _keys(tmp_path, "full")
    assert all(full[stem].changed(quick[stem]) == ["parameters"] for stem in quick)


def test_profiles_yaml_changes_the_parameters_of_the_chapters_it_changes(tmp_path: Path) -> None:
    _book(tmp_path)
    before = _keys(tmp_path)
    own_rate = PROFILES.replace("default: {rate: 1}", 'default: {rate: 1}\n  "02": {rate: 2}')
    (tmp_path / "book/profiles.yaml").write_text(own_rate)
    after = _keys(tmp_path)
    assert after["01-a"] == before["01-a"]
    assert after["02-b"].changed(before["02-b"]) == ["parameters"]


def test_the_stack_a_chapter_measures_is_a_parameter(tmp_path: Path) -> None:
    _book(tmp_path)
    one_broker = _keys(tmp_path, stack={**STACK, "brokers": 1})
    assert one_broker["01-a"].changed(_keys(tmp_path)["01-a"]) == ["parameters"]


@pytest.mark.parametrize("path", ["lib/streamlab/module.py", "lib/streamlab/new/data.yaml", "pyproject.toml"])
def test_a_library_file_changes_every_key(tmp_path: Path, path: str) -> None:
    _book(tmp_path)
    before = _keys(tmp_path)
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text("changed = True\n")
    after = _keys(tmp_path)
    assert all(after[stem].changed(before[stem]) == ["library"] for stem in before)


@pytest.mark.parametrize("path", ["README.md", "tests/test_x.py", "book/intro.md", "data/runs/x.csv",
                                  "lib/streamlab/__pycache__/module.cpython-311.pyc", "_build/other.txt"])
def test_files_outside_the_inputs_change_no_key(tmp_path: Path, path: str) -> None:
    _book(tmp_path)
    before = _keys(tmp_path)
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text("changed\n")
    assert _keys(tmp_path) == before


def test_the_books_code_inputs_exist() -> None:
    """A renamed folder would silently drop out of the hash."""
    repo = Path(__file__).resolve().parents[2]
    assert [name for name in cache.CODE_INPUTS if not (repo / name).exists()] == []


def test_a_record_round_trips_and_states_when_and_how(tmp_path: Path) -> None:
    layout = Layout(tmp_path, tmp_path / "_build")
    chapter = Chapter(Path("book/chapters/01-a.md"))
    layout.executed(chapter).parent.mkdir(parents=True)
    record = cache.RunRecord(cache.RunKey("c", "p", "l"), "2026-12-07T22:34:16+00:00", "full", "abc1234", 312.0)
    cache.write_record(layout, chapter, record)
    assert cache.read_record(layout, chapter) == record
    assert json.loads(cache.record_path(layout, chapter).read_text())["digest"] == record.key.digest
    assert record.line() == "*Executed at 2026-12-07 22:34 UTC with profile `full`, commit `abc1234` (5.2 min).*"
    cache.record_path(layout, chapter).write_text("{half a reco")
    assert cache.read_record(layout, chapter) is None


def test_merging_prose_keeps_the_outputs_of_the_code_that_ran() -> None:
    v4 = nbformat.v4
    executed = v4.new_notebook(cells=[
        v4.new_markdown_cell("# Old title"),
        v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
        v4.new_code_cell("# Parameters\nprofile = 'full'", metadata={"tags": ["injected-parameters"]}),
        v4.new_code_cell("1 + 1", outputs=[v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]),
    ])  # fmt: skip
    source = v4.new_notebook(cells=[
        v4.new_markdown_cell("# New title"), v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
        v4.new_markdown_cell("A new paragraph."), v4.new_code_cell("1 + 1"),
    ])  # fmt: skip
    merged = cache.merge_markdown(executed, source)
    assert [c.source for c in merged.cells] == ["# New title", "profile = 'quick'", "# Parameters\nprofile = 'full'",
                                                "A new paragraph.", "1 + 1"]
    assert merged.cells[-1].outputs[0]["data"]["text/plain"] == "2"
    source.cells[-1].source = "1 + 2"
    with pytest.raises(ValueError, match="code cells differ"):
        cache.merge_markdown(executed, source)


# --------------------------------------------------------------------------- reuse against re-execution


def _run(root: Path, *args: str) -> int:
    return runner.main(["--root", str(root), "--no-build", *args])


def _counts(layout: Layout) -> dict[str, int]:
    folder = layout.mirror / "book/chapters"
    return {path.stem: len(path.read_text()) for path in sorted(folder.glob("*.count"))}


def _page(layout: Layout, stem: str) -> list[str]:
    return [cell.source for cell in nbformat.read(layout.mirror / f"book/chapters/{stem}.ipynb", 4).cells]


def test_an_unchanged_chapter_is_reused_and_a_changed_one_executed(tmp_path: Path) -> None:
    layout = _book(tmp_path)
    assert _run(tmp_path, "--up-to-date") == 1
    assert _run(tmp_path) == 0
    assert _counts(layout) == {"01-a": 1, "02-b": 1}
    assert _page(layout, "01-a")[1].startswith("*Executed at ")
    assert _run(tmp_path, "--up-to-date") == 0

    assert _run(tmp_path) == 0  # nothing changed: nothing runs, results stay
    assert _counts(layout) == {"01-a": 1, "02-b": 1}
    assert (layout.results(Chapter(Path("book/chapters/01-a.md"))) / "result.csv").read_text() == "1"

    _write_chapter(tmp_path, "02-b", prose="Edited prose.")
    assert _run(tmp_path, "--up-to-date") == 0
    assert _run(tmp_path) == 0
    assert _counts(layout) == {"01-a": 1, "02-b": 1}
    page = _page(layout, "02-b")
    assert "Edited prose." in page[0] and page[1].startswith("*Executed at ")

    _write_chapter(tmp_path, "02-b", code="print('new code')")
    assert _run(tmp_path) == 0
    assert _counts(layout) == {"01-a": 1, "02-b": 2}

    (tmp_path / "lib/streamlab/module.py").write_text("X = 2\n")
    assert _run(tmp_path) == 0
    assert _counts(layout) == {"01-a": 2, "02-b": 3}

    assert _run(tmp_path, "--profile", "full") == 0
    assert _counts(layout) == {"01-a": 3, "02-b": 4}
    assert (layout.results(Chapter(Path("book/chapters/01-a.md"))) / "result.csv").read_text() == "5"

    assert _run(tmp_path, "--profile", "full", "--force") == 0
    assert _counts(layout) == {"01-a": 4, "02-b": 5}


def test_a_failed_execution_is_never_reused(tmp_path: Path) -> None:
    layout = _book(tmp_path, ("01-a",))
    assert _run(tmp_path) == 0
    _write_chapter(tmp_path, "01-a", code="1 / 0")
    assert _run(tmp_path) == 1
    assert not cache.record_path(layout, Chapter(Path("book/chapters/01-a.md"))).exists()
    assert _run(tmp_path, "--up-to-date") == 1
    _write_chapter(tmp_path, "01-a")  # back to the code of the successful execution: its notebook is gone
    assert _run(tmp_path) == 0
    assert _counts(layout) == {"01-a": 3}


def test_a_chapter_whose_results_are_gone_executes_again(tmp_path: Path) -> None:
    import shutil

    layout = _book(tmp_path, ("01-a",))
    assert _run(tmp_path) == 0
    shutil.rmtree(layout.results(Chapter(Path("book/chapters/01-a.md"))))
    assert _run(tmp_path, "--up-to-date") == 1
    assert _run(tmp_path) == 0
    assert _counts(layout) == {"01-a": 2}


def test_the_reader_of_the_other_executions_follows_them(tmp_path: Path) -> None:
    """05-reflection tabulates the other chapters' executions: it runs again when one of them did."""
    layout = _book(tmp_path, ("01-a", "05-reflection"))
    assert _run(tmp_path) == 0
    assert _run(tmp_path, "--up-to-date") == 0
    _write_chapter(tmp_path, "01-a", code="print('new code')")
    assert _run(tmp_path) == 0
    assert _counts(layout) == {"01-a": 2, "05-reflection": 2}
    assert _run(tmp_path, "--up-to-date") == 0


def test_the_reader_of_the_history_follows_the_commit_and_no_other_chapter_does(tmp_path: Path) -> None:
    import subprocess

    _book(tmp_path, ("01-a", "05-reflection"))

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)  # fmt: skip

    def keys() -> dict[str, cache.RunKey]:
        layout = Layout(tmp_path, tmp_path / "_build")
        chapters = discover_chapters(tmp_path)
        profiles = load_profiles(tmp_path / "book/profiles.yaml")
        inputs = runner.Inputs(cache.library_digest(tmp_path), STACK, cache.head_commit(tmp_path))
        return {ch.stem: runner.run_key(prepare_chapter(ch, layout, profiles, "quick", {}), layout, chapters, inputs)
                for ch in chapters}  # fmt: skip

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    before = keys()
    git("commit", "-q", "--allow-empty", "-m", "two")
    after = keys()
    assert after["01-a"] == before["01-a"]
    assert after["05-reflection"].changed(before["05-reflection"]) == ["upstream"]


def test_make_book_starts_brokers_only_for_a_chapter_that_needs_them(tmp_path: Path) -> None:
    """The reflection runs without brokers: when only it has to execute, `make book` starts no stack."""
    _book(tmp_path, ("01-a", "05-reflection"))
    assert _run(tmp_path, "--brokers-needed") == 0  # nothing executed yet
    assert _run(tmp_path) == 0
    assert _run(tmp_path, "--brokers-needed") == 1
    _write_chapter(tmp_path, "05-reflection", code="print('new code')")
    assert _run(tmp_path, "--brokers-needed") == 1 and _run(tmp_path, "--up-to-date") == 1
    _write_chapter(tmp_path, "01-a", code="print('new code')")
    assert _run(tmp_path, "--brokers-needed") == 0
