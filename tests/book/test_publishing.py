"""Publishing the book: the GitHub Pages workflow (linted offline), `make site`'s archive, the word count.

None of these needs a broker: the workflow is checked by actionlint and by what it asks for, the archive is
packed from a small fake build, and the word count reads crafted pages shaped like Sphinx's.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from plugins.capabilities import require
from streamlab.book import site, wordcount

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "book.yml"


def _actionlint() -> Path | None:
    built = sorted((REPO / ".cache" / "bin").glob("actionlint-*"))
    return built[-1] if built else None


def test_the_publishing_workflow_passes_actionlint():
    linter = _actionlint()
    require(linter is not None, "needs actionlint in .cache/bin (make setup builds it with Go)")
    result = subprocess.run([str(linter), "-no-color", str(WORKFLOW)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_refuses_a_broken_workflow(tmp_path):
    """The linter is really checking: a job that needs a job that does not exist is refused."""
    linter = _actionlint()
    require(linter is not None, "needs actionlint in .cache/bin (make setup builds it with Go)")
    broken = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    broken["jobs"]["deploy"]["needs"] = "no-such-job"
    path = tmp_path / ".github" / "workflows" / "broken.yml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = subprocess.run([str(linter), "-no-color", str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0 and "no-such-job" in result.stdout


def test_the_workflow_builds_the_full_book_and_deploys_its_html():
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    build = flow["jobs"]["build"]
    commands = [step.get("run", "") for step in build["steps"]]
    assert "make setup" in commands and "make book PROFILE=full" in commands and "make site" in commands
    assert commands.index("make book PROFILE=full") < commands.index("make site")
    pages = [step for step in build["steps"] if step.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert pages and pages[0]["with"]["path"] == "_build/html"
    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(step.get("uses", "").startswith("actions/deploy-pages") for step in deploy["steps"])


def _fake_build(root: Path) -> Path:
    (root / "html" / "book" / "chapters").mkdir(parents=True)
    (root / "html" / "index.html").write_text("<html>book</html>", encoding="utf-8")
    (root / "html" / "book" / "chapters" / "01-application.html").write_text("<html>01</html>", encoding="utf-8")
    results = root / "executed" / "book" / "chapters" / "01-application_files"
    results.mkdir(parents=True)
    (root / "executed" / "book" / "chapters" / "01-application.ipynb").write_text("{}", encoding="utf-8")
    (results / "latency.csv").write_text("p50_ms\n2.1\n", encoding="utf-8")
    return root


def test_site_packs_the_html_the_notebooks_and_their_results(tmp_path):
    build = _fake_build(tmp_path / "_build")
    out, count = site.pack(build, build / "streamlab-book.zip")
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        forward = archive.read("streamlab-book/index.html").decode()
    assert names == {
        "streamlab-book/index.html",
        "streamlab-book/html/index.html",
        "streamlab-book/html/book/chapters/01-application.html",
        "streamlab-book/executed/book/chapters/01-application.ipynb",
        "streamlab-book/executed/book/chapters/01-application_files/latency.csv",
    }
    assert count == len(names)
    assert 'url=html/index.html' in forward and "streamlab-book/html/index.html" in names


def test_site_without_a_build_says_what_to_do(tmp_path, capsys):
    assert site.main(["--build-root", str(tmp_path / "_build")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run `make book` first" in err


def test_make_site_packs_the_build_it_is_given(tmp_path):
    """`make site` is wired to the packer (make -n shows the command, the packer's own tests cover the rest)."""
    dry = subprocess.run(["make", "-n", "site"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "-m streamlab.book.site" in dry


PAGE = """<html><head><title>01 The application</title></head><body>
<nav>Contents Home Chapter 00 Chapter 01</nav>
<article class="bd-article">
<h1>The application<a class="headerlink" href="#a">#</a></h1>
<p>The processor scored 1,234.5 readings per second, 0.86× Kafka's tool.</p>
<div class="cell docutils container"><div class="cell_input docutils container"><pre>import streamlab</pre></div>
<div class="cell_output docutils container">
<div class="output stream highlight-myst-ansi"><pre>log line noise</pre></div>
<table><thead><tr><th>stream</th><th>records</th></tr></thead><tbody><tr><td>telemetry</td><td>600</td></tr></tbody></table>
</div></div>
<figure><img src="a.png"/><figcaption>Figure 1.1 Lag</figcaption></figure>
</article></body></html>"""


def test_wordcount_counts_what_a_reader_reads():
    count = wordcount.count_page(PAGE, "book/chapters/01-application.html")
    # "The application" + the sentence (1,234.5 and 0.86× are one word each) + the caption "Figure 1.1 Lag"
    assert count.prose_words == 2 + 10 + 3
    assert (count.table_words, count.tables, count.figures) == (4, 1, 1)
    assert not count.appendix


def test_wordcount_totals_main_text_and_appendices_apart(tmp_path):
    (tmp_path / "book" / "appendix").mkdir(parents=True)
    (tmp_path / "book" / "chapters").mkdir(parents=True)
    (tmp_path / "index.html").write_text("<html><body>redirect</body></html>", encoding="utf-8")
    (tmp_path / "book" / "chapters" / "01.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "book" / "appendix" / "settings.html").write_text(
        '<html><article class="bd-article"><p>one two three</p></article></html>', encoding="utf-8")
    (tmp_path / "search.html").write_text("<html><body>search words here</body></html>", encoding="utf-8")
    counts = {c.page: c for c in wordcount.count_book(tmp_path)}
    assert "search.html" not in counts
    table = wordcount.markdown_table(list(counts.values()))
    assert "| **appendices** | **3** |" in table
    assert f"| **main text** | **{15 + 1:,}** |" in table  # the chapter and the index page's one word


@pytest.mark.parametrize("text,expected", [("1,234.5 records/s", 2), ("p99 ÷ p50 = 3.2×", 3), ("— –", 0)])
def test_words_counts_numbers_as_one_word(text, expected):
    assert wordcount.words(text) == expected
