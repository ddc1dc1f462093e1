"""The page checker on crafted pages and figures: fast, no browser, no build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import altair as alt
import htmlcheck
import pandas as pd
import pytest
from plugins.capabilities import require
import streamlab.plots as plots


def _page(site: Path, body: str, name: str = "page.html") -> tuple[str, Path]:
    page = site / name
    html = f"<html><body><main><h1>Title</h1>{body}</main></body></html>"
    page.write_text(html, encoding="utf-8")
    return html, page


def _svg(chart: alt.TopLevelMixin) -> str:
    plots.use_house_style()
    return chart._repr_mimebundle_()["image/svg+xml"]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "_images").mkdir()
    return tmp_path


def kinds(dom: str, page: Path, site: Path) -> set[str]:
    return {p.kind for p in htmlcheck.check_dom(dom, page, site)}


def test_clean_page_passes(site: Path) -> None:
    chart = plots.line_over_time(pd.DataFrame({"t": [0, 1, 2], "v": [1, 3, 2]}), "t", "v", title="ok")
    (site / "_images/ok.svg").write_text(_svg(chart), encoding="utf-8")
    (site / "data.csv").write_text("a\n1\n")
    dom, page = _page(site, '<div class="cell_output"><img src="_images/ok.svg"></div><a href="data.csv">d</a>')
    assert htmlcheck.check_dom(dom, page, site) == []


def test_error_output_of_myst_nb_fails(site: Path) -> None:
    body = (
        '<div class="cell_output docutils container">'
        '<div class="output traceback highlight-ipythontb">Boom</div></div>'
    )
    dom, page = _page(site, body)
    assert kinds(dom, page, site) == {"error-output"}


def test_papermill_error_marker_fails(site: Path) -> None:
    dom, page = _page(site, '<span id="papermill-error-cell">Execution using papermill encountered an exception</span>')
    assert kinds(dom, page, site) == {"error-output"}


def test_missing_and_remote_images_fail(site: Path) -> None:
    dom, page = _page(site, '<img src="_images/nope.png"><img src="https://example.org/x.png">')
    assert kinds(dom, page, site) == {"missing-image", "remote-image"}


def test_scripts_stylesheets_fonts_and_css_urls_from_the_network_fail(site: Path) -> None:
    (site / "_static").mkdir()
    (site / "_static" / "theme.css").write_text(
        "/* licence: https://example.org/licence */\n"
        "@font-face { src: url('https://fonts.example.org/a.woff2'); }\n"
        "body { background: url(../_images/local.png); }\n", encoding="utf-8")
    dom, page = _page(site, '<script src="https://cdn.example.org/vega.js"></script>'
                            '<link rel="stylesheet" href="_static/theme.css">'
                            '<link rel="preload" href="//cdn.example.org/font.woff2">'
                            '<style>@import "https://example.org/more.css";</style>'
                            '<div style="background: url(https://example.org/bg.png)"></div>'
                            '<a href="https://example.org/a-link-is-not-fetched">read on</a>'
                            '<script src="_static/local.js"></script>')
    problems = [p.detail for p in htmlcheck.check_dom(dom, page, site) if p.kind == "remote-resource"]
    assert sorted(problems) == sorted(["https://cdn.example.org/vega.js", "//cdn.example.org/font.woff2",
                                       "https://fonts.example.org/a.woff2", "https://example.org/more.css",
                                       "https://example.org/bg.png"])


def test_chromium_runs_without_a_network_where_the_system_allows() -> None:
    prefix = htmlcheck.offline_prefix()
    require(bool(prefix), "no network namespace on this system (unshare refused)")
    links = subprocess.run([*prefix, "cat", "/proc/net/dev"], capture_output=True, text=True, check=True).stdout
    assert [line.split(":")[0].strip() for line in links.splitlines()[2:]] == ["lo"]


def test_image_outside_the_site_counts_as_missing(site: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "x.png"
    outside.write_bytes(b"\x89PNG" * 100)
    dom, page = _page(site, f'<img src="{outside.as_uri()}">')
    assert kinds(dom, page, site) == {"missing-image"}


def test_chart_without_data_is_an_empty_figure(site: Path) -> None:
    empty = alt.Chart(pd.DataFrame({"x": [], "y": []})).mark_point().encode(x="x:Q", y="y:Q")
    (site / "_images/empty.svg").write_text(_svg(empty), encoding="utf-8")
    dom, page = _page(site, '<div class="cell_output"><img src="_images/empty.svg"></div>')
    assert kinds(dom, page, site) == {"empty-figure"}


@pytest.mark.parametrize(
    ("svg", "empty"),
    [
        ('<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0"><text>x</text></svg>', True),
        ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>', True),
        ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><path d=""/></svg>', True),
        ('<svg xmlns="http://www.w3.org/2000/svg" width="10pt" height="10pt"><rect/><ellipse rx="2"/></svg>', False),
        ("not svg at all", True),
    ],
)
def test_svg_emptiness_of_other_figures(svg: str, empty: bool) -> None:
    assert (htmlcheck.svg_emptiness(svg) is not None) is empty


def test_inline_svg_in_an_output_is_checked(site: Path) -> None:
    body = '<div class="cell_output"><svg xmlns="http://www.w3.org/2000/svg" width="0" height="0"></svg></div>'
    dom, page = _page(site, body)
    assert kinds(dom, page, site) == {"empty-figure"}


def test_dead_local_link_fails_but_anchors_and_web_links_do_not(site: Path) -> None:
    links = '<a href="#x">a</a><a href="https://kafka.apache.org">k</a><a href="results/gone.csv">g</a>'
    dom, page = _page(site, links)
    problems = htmlcheck.check_dom(dom, page, site)
    assert [(p.kind, p.detail) for p in problems] == [("missing-link", "results/gone.csv")]


def test_page_without_title_fails(site: Path) -> None:
    page = site / "p.html"
    assert kinds("<html><body><p>text</p></body></html>", page, site) == {"no-title"}


def test_uncaught_javascript_errors_are_reported() -> None:
    console = [
        '[1:1:1125/1.1:INFO:CONSOLE:1] "[PST]: Changed to auto mode", source: file:///x/a.js (1)',
        '[1:1:1125/1.2:INFO:CONSOLE:63] "Uncaught SyntaxError: Identifier \'X\' has already been declared", '
        "source: file:///x/page.html (63)",
    ]
    problems = htmlcheck.js_errors(console)
    assert len(problems) == 1 and "Identifier 'X'" in problems[0].detail
