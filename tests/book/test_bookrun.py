"""The book runner's pure parts: parameters from profiles.yaml, chapter selection, mirror paths.

No kernel, no build: these run in a second.
"""

from __future__ import annotations

from pathlib import Path

import myst
import nbformat
import pytest

from streamlab.book import chapter_api, execute, parameters, runner
from streamlab.book import layout as book_layout
from streamlab.book.layout import Chapter, Layout, RunnerError

REPO = Path(__file__).resolve().parents[2]

CH01 = Chapter(Path("book/chapters/01-application.md"))
CH02 = Chapter(Path("book/chapters/02-kafka-deep-dives.md"))

PROFILES_YAML = """
quick:
  default: {duration_s: 5, rate: 100}
  "01": {rate: 10}
  02: {partitions: 3}          # unquoted: YAML reads 2, the runner reads "02"
full:
  default: {duration_s: 60}
"""

MYST_HEADER = myst.HEADER


@pytest.fixture
def profiles(tmp_path: Path) -> dict:
    path = tmp_path / "profiles.yaml"
    path.write_text(PROFILES_YAML)
    return parameters.load_profiles(path)


def test_chapter_names() -> None:
    assert (CH01.key, CH01.stem) == ("01", "01-application")
    assert CH01.matches("01") and CH01.matches("01-application") and CH01.matches("book/chapters/01-application.md")
    assert not CH01.matches("1")


def test_profile_keys_are_normalised(profiles: dict) -> None:
    assert set(profiles["quick"]) == {"default", "01", "02"}


def test_parameters_merge_default_then_chapter_then_runner_then_overrides(profiles: dict) -> None:
    params, strict = parameters.merge_parameters(profiles, "quick", CH01, {"duration_s": 1})
    assert params == {"duration_s": 1, "rate": 10, "profile": "quick", "output_dir": "01-application_files"}
    assert strict == {"rate"}


def test_chapter_without_own_entry_gets_defaults(profiles: dict) -> None:
    params, strict = parameters.merge_parameters(profiles, "full", CH02)
    assert params == {"duration_s": 60, "profile": "full", "output_dir": "02-kafka-deep-dives_files"}
    assert strict == set()


def test_unknown_profile_is_a_clear_error(profiles: dict) -> None:
    with pytest.raises(RunnerError, match=r"unknown profile 'fast'.*quick, full"):
        parameters.merge_parameters(profiles, "fast", CH01)


def test_default_parameters_a_chapter_does_not_declare_are_dropped(profiles: dict) -> None:
    params, strict = parameters.merge_parameters(profiles, "quick", CH02)
    kept = parameters.restrict_to_declared(params, strict, {"profile", "output_dir", "partitions"}, CH02)
    assert kept == {"partitions": 3, "profile": "quick", "output_dir": "02-kafka-deep-dives_files"}


def test_chapter_entry_naming_an_undeclared_parameter_is_a_typo(profiles: dict) -> None:
    params, strict = parameters.merge_parameters(profiles, "quick", CH01)
    with pytest.raises(RunnerError, match=r"01-application has no parameter.*rate"):
        parameters.restrict_to_declared(params, strict, {"profile", "output_dir"}, CH01)


def test_chapter_must_declare_the_runner_parameters(profiles: dict) -> None:
    params, _ = parameters.merge_parameters(profiles, "full", CH02)
    with pytest.raises(RunnerError, match="must declare output_dir"):
        parameters.restrict_to_declared(params, set(), {"profile"}, CH02)


def test_profile_section_for_an_unknown_chapter_is_a_typo(profiles: dict) -> None:
    parameters.check_profile_sections(profiles, [CH01, CH02])
    with pytest.raises(RunnerError, match=r"quick\.02 is not a chapter of the TOC \(chapters: 01\)"):
        parameters.check_profile_sections(profiles, [CH01])


def test_overrides_are_yaml_values() -> None:
    assert parameters.parse_overrides(["n=5", "on=true", "name=kafka", "xs=[1, 2]"]) == {
        "n": 5, "on": True, "name": "kafka", "xs": [1, 2],
    }  # fmt: skip
    with pytest.raises(RunnerError, match="NAME=VALUE"):
        parameters.parse_overrides(["oops"])


def test_override_nobody_declares_is_rejected() -> None:
    parameters.check_overrides({"rate": 1}, {CH01: {"rate"}, CH02: set()})
    with pytest.raises(RunnerError, match="--param raet"):
        parameters.check_overrides({"raet": 1}, {CH01: {"rate"}})


def test_select_chapters() -> None:
    chapters = [CH01, CH02]
    assert book_layout.select_chapters(chapters, None) == chapters
    assert book_layout.select_chapters(chapters, "02, 01") == chapters  # TOC order, not argument order
    assert book_layout.select_chapters(chapters, "02-kafka-deep-dives") == [CH02]
    with pytest.raises(RunnerError, match=r"unknown chapter.*07.*01, 02"):
        book_layout.select_chapters(chapters, "07")


def test_mirror_paths(tmp_path: Path) -> None:
    layout = Layout(tmp_path, tmp_path / "_build")
    assert layout.executed(CH01) == tmp_path / "_build/executed/book/chapters/01-application.ipynb"
    assert layout.results(CH01) == tmp_path / "_build/executed/book/chapters/01-application_files"
    assert layout.html == tmp_path / "_build/html"


def test_toc_docnames_walks_parts_chapters_and_sections() -> None:
    toc = {
        "root": "intro",
        "parts": [{"chapters": [{"file": "a", "sections": [{"file": "a1"}]}, {"file": "b"}]}],
    }
    assert book_layout.toc_docnames(toc) == ["intro", "a", "a1", "b"]


def _book(root: Path) -> None:
    (root / "book/chapters").mkdir(parents=True)
    (root / "book/_static").mkdir()
    (root / "_config.yml").write_text("title: t\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/chapters/01-a\n")
    (root / "book/intro.md").write_text("# Intro\n")
    (root / "book/_static/x.css").write_text("p {}\n")
    (root / "book/chapters/01-a.md").write_text(MYST_HEADER + "\n# A\n")
    (root / "book/chapters/99-draft.md").write_text(MYST_HEADER + "\n# Draft, not in the TOC\n")


def test_discover_chapters_finds_notebooks_of_the_toc_only(tmp_path: Path) -> None:
    _book(tmp_path)
    assert book_layout.discover_chapters(tmp_path) == [Chapter(Path("book/chapters/01-a.md"))]


def test_discover_chapters_reports_a_toc_entry_without_file(tmp_path: Path) -> None:
    _book(tmp_path)
    (tmp_path / "book/chapters/01-a.md").unlink()
    with pytest.raises(RunnerError, match=r"names book/chapters/01-a, but book/chapters/01-a.md does not exist"):
        book_layout.discover_chapters(tmp_path)


def test_mirror_never_has_a_chapter_md_beside_its_ipynb(tmp_path: Path) -> None:
    _book(tmp_path)
    layout = Layout(tmp_path, tmp_path / "_build")
    stale = layout.mirror / "book/chapters/01-a.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("left over from an older runner")
    chapters = book_layout.discover_chapters(tmp_path)
    book_layout.sync_mirror(layout, chapters)
    assert (layout.mirror / "_toc.yml").is_file() and (layout.mirror / "_config.yml").is_file()
    assert (layout.mirror / "book/intro.md").is_file()
    assert (layout.mirror / "book/_static/x.css").is_file()
    assert not stale.exists()
    assert not (layout.mirror / "book/chapters/99-draft.md").exists()


def _executed(layout: Layout, chapter: Chapter, ok: bool) -> None:
    path = layout.executed(chapter)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(), path)
    execute.stamp_source(path, chapter, ok=ok)


def test_plan_adds_chapters_without_a_successful_execution_only_for_a_build(tmp_path: Path) -> None:
    layout = Layout(tmp_path, tmp_path / "_build")
    chapters = [CH01, CH02]
    assert runner.plan(layout, chapters, [CH02], build=False) == [CH02]
    assert runner.plan(layout, chapters, [CH02], build=True) == [CH01, CH02]
    _executed(layout, CH01, ok=False)  # failed or timed out: never published
    assert runner.plan(layout, chapters, [CH02], build=True) == [CH01, CH02]
    _executed(layout, CH01, ok=True)
    assert runner.plan(layout, chapters, [CH02], build=True) == [CH02]


def test_plan_runs_the_reflection_after_every_other_chapter(tmp_path: Path) -> None:
    layout = Layout(tmp_path, tmp_path / "_build")
    reflection, faults = Chapter(Path("book/chapters/05-reflection.md")), Chapter(Path("book/chapters/06-faults.md"))
    chapters = [CH01, reflection, faults]
    assert runner.plan(layout, chapters, chapters, build=True) == [CH01, faults, reflection]
    assert runner.plan(layout, chapters, [reflection], build=False) == [reflection]


def test_the_run_facts_appendix_executes_last_and_whenever_a_page_it_reads_executes(tmp_path: Path) -> None:
    """It reads every chapter's saved conditions, the reflection's too: it executes after all of them."""
    layout = Layout(tmp_path, tmp_path / "_build")
    reflection, faults = Chapter(Path("book/chapters/05-reflection.md")), Chapter(Path("book/chapters/06-faults.md"))
    facts = Chapter(Path("book/appendix/run-facts.md"))
    chapters = [CH01, reflection, faults, facts]
    assert runner.plan(layout, chapters, chapters, build=True) == [CH01, faults, reflection, facts]
    assert runner.plan(layout, chapters, [], build=False, stale={reflection: "code changed"}) == [reflection, facts]
    assert runner.plan(layout, chapters, [], build=False, stale={faults: "code changed"}) == [faults, reflection, facts]
    assert runner.plan(layout, chapters, [], build=False, stale={facts: "code changed"}) == [facts]
    assert runner.read_by(facts, chapters) == [CH01, reflection, faults]
    assert runner.read_by(reflection, chapters) == [CH01, faults]


def test_source_line_finds_the_cell_in_the_markdown() -> None:
    text = "# T\n\n```{code-cell} ipython3\nx = 1\n1 / 0\n```\n"
    assert execute.source_line(text, "x = 1\n1 / 0") == 4
    assert execute.source_line(text, "not there") is None


def test_results_dir_default_is_data_runs_of_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _book(tmp_path)
    monkeypatch.chdir(tmp_path / "book/chapters")
    assert chapter_api.results_dir("", "01-a") == tmp_path / "data/runs/01-a"
    assert chapter_api.results_dir("given", "01-a") == Path("given") and Path("given").is_dir()


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_chapter_accepts_its_profile_parameters(profile: str) -> None:
    """profiles.yaml and the chapters' parameters cells agree (jupytext + papermill inspection, no kernel)."""
    layout = Layout(REPO, REPO / "_build")
    profiles = parameters.load_profiles(REPO / book_layout.PROFILES_FILE)
    for chapter in book_layout.discover_chapters(REPO):
        prepared = execute.prepare_chapter(chapter, layout, profiles, profile, {})
        assert prepared.params["profile"] == profile
        assert prepared.params["output_dir"] == f"{chapter.stem}_files"


def test_the_cell_papermill_injects_is_removed_from_the_page(tmp_path: Path) -> None:
    layout = Layout(tmp_path, tmp_path / "_build")
    path = layout.executed(CH01)
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters", "remove-cell"]}),
                nbformat.v4.new_code_cell("# Parameters\nprofile = 'full'", metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("print(profile)")]
    nbformat.write(nb, path)
    execute.stamp_source(path, CH01, ok=True)
    tags = [cell.metadata.get("tags", []) for cell in nbformat.read(path, as_version=4).cells]
    assert tags == [["parameters", "remove-cell"], ["injected-parameters", "remove-cell"], []]


def _tagged_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("always"),
                nbformat.v4.new_markdown_cell("live", metadata={"tags": ["needs:podman"]}),
                nbformat.v4.new_code_cell("live()", metadata={"tags": ["remove-input", "needs:podman"]}),
                nbformat.v4.new_markdown_cell("fallback", metadata={"tags": ["needs-not:podman"]})]
    return nb


class _Fixed(execute.Capabilities):
    def __init__(self, present: bool) -> None:
        super().__init__()
        self._known = {"podman": present}


@pytest.mark.parametrize("present, kept", [(True, ["always", "live", "live()"]), (False, ["always", "fallback"])])
def test_cells_needing_a_capability_are_kept_only_where_it_is(present: bool, kept: list[str]) -> None:
    nb = _tagged_notebook()
    execute.drop_unmet_cells(nb, _Fixed(present))
    assert [cell.source for cell in nb.cells] == kept


def test_a_build_told_to_do_without_a_capability_takes_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    def never() -> bool:
        raise AssertionError("a capability left out is not probed")
    monkeypatch.setitem(execute.Capabilities.CHECKS, "podman", never)
    monkeypatch.setenv(execute.Capabilities.WITHOUT_ENV, "podman")
    nb = _tagged_notebook()
    execute.drop_unmet_cells(nb, execute.Capabilities())
    assert [cell.source for cell in nb.cells] == ["always", "fallback"]


def test_doing_without_an_unknown_capability_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(execute.Capabilities.WITHOUT_ENV, "podman, gpu")
    with pytest.raises(RunnerError, match=r"unknown capability 'gpu' \(in a cell tag or \$STREAMLAB_BOOK_WITHOUT\)"):
        execute.Capabilities()


def test_unknown_capability_is_a_clear_error() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("x", metadata={"tags": ["needs:gpu"]})]
    with pytest.raises(RunnerError, match="unknown capability 'gpu'"):
        execute.drop_unmet_cells(nb, execute.Capabilities())


def test_cell_timeout_comes_from_the_profiles_runner_section() -> None:
    profiles = {"quick": {"default": {}}, "full": {"runner": {"cell_timeout_s": 1800}, "default": {}}}
    assert parameters.cell_timeout_for(profiles, "quick") == parameters.DEFAULT_CELL_TIMEOUT_S
    assert parameters.cell_timeout_for(profiles, "full") == 1800
    with pytest.raises(RunnerError, match="knows only cell_timeout_s"):
        parameters.cell_timeout_for({"full": {"runner": {"cell_timeout": 1}}}, "full")


def test_the_books_full_profile_allows_long_cells() -> None:
    profiles = parameters.load_profiles(Path(__file__).resolve().parents[2] / "book" / "profiles.yaml")
    assert parameters.cell_timeout_for(profiles, "full") > parameters.cell_timeout_for(profiles, "quick")


def test_result_links_are_relative_to_the_executed_chapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner executes a chapter in its folder and copies `<stem>_files` beside its HTML page: links
    relative to that folder work in both places."""
    import pandas as pd

    folder = tmp_path / "01-a_files"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    link = chapter_api.save_table(pd.DataFrame({"x": [1, 2, 3]}), folder, "t.csv")
    assert link.data == "Data: [t.csv](01-a_files/t.csv) (3 rows)"
    assert (folder / "t.csv").read_text().splitlines() == ["x", "1", "2", "3"]
    more = chapter_api.data_links([folder / "a.csv", folder / "runs" / "b.prof"], "The tour's data")
    assert more.data == "The tour's data: [a.csv](01-a_files/a.csv), [b.prof](01-a_files/runs/b.prof)"


def test_no_prose_line_of_a_page_starts_with_a_percent_sign() -> None:
    """MyST reads a line that starts with ``%`` as a comment and drops it: a reflowed "… 12\\n% of …" loses
    the rest of its sentence in the HTML without a warning (it happened in chapter 04)."""
    offenders = []
    for page in sorted((REPO / "book").rglob("*.md")):
        in_code = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith(("```", "~~~")):
                in_code = not in_code
            elif not in_code and line.startswith("%"):
                offenders.append(f"{page.relative_to(REPO)}:{number}")
    assert offenders == []
