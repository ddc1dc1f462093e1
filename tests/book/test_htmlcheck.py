"""The page checker on crafted pages and figures: fast, no browser, no build."""

from __future__ import annotations

import html
import subprocess
from pathlib import Path

import altair as alt
import htmlcheck
import pandas as pd
import pytest

import streamlab.plots as plots
from plugins.capabilities import require


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


# --------------------------------------------------------------------------- broken output (issue 32)

_CLEAN_TABLE = ('<div class="cell_output"><div class="sl-table-wrap"><table class="sl-table"><caption>Rates. '
                '– : not run in the quick profile.</caption><thead><tr><th>client</th><th>rate</th></tr></thead>'
                '<tbody><tr><td>pika</td><td>1,200</td></tr><tr><td>aio_pika</td><td>–</td></tr></tbody>'
                '</table></div></div>')


def test_a_clean_table_and_prose_pass(site: Path) -> None:
    prose = "<p>The run measured 1,200 messages/s; the nanny process and <code>float('nan')</code> are fine.</p>"
    dom, page = _page(site, prose + _CLEAN_TABLE)
    assert htmlcheck.check_dom(dom, page, site) == []


@pytest.mark.parametrize("cell", ["NaN", "nan", "None", "NaT", "<NA>"])
def test_a_missing_value_cell_fails(site: Path, cell: str) -> None:
    dom, page = _page(site, _CLEAN_TABLE.replace("<td>–</td>", f"<td>{html.escape(cell)}</td>"))
    assert kinds(dom, page, site) == {"missing-value"}


@pytest.mark.parametrize("text", ["the broker was fenced 0.3 s after the kill and unfenced nan s later",
                                  "0.0 / 0.0 records/s (nan %)"])
def test_nan_in_a_sentence_fails(site: Path, text: str) -> None:
    dom, page = _page(site, f"<p>{text}</p>")
    assert kinds(dom, page, site) == {"missing-value"}


@pytest.mark.parametrize("text", ["Not measured yet: .", "The lag was not measured yet in this profile."])
def test_not_measured_fails(site: Path, text: str) -> None:
    dom, page = _page(site, f"<div class='admonition'><p>{text}</p></div>")
    assert kinds(dom, page, site) == {"not-measured"}


def test_a_header_only_table_fails(site: Path) -> None:
    body = '<table><thead><tr><th>queue</th><th>type</th></tr></thead><tbody></tbody></table>'
    dom, page = _page(site, f'<div class="cell_output">{body}</div>')
    assert kinds(dom, page, site) == {"empty-table"}


@pytest.mark.parametrize("cell", ["the consumer group rebalanced because the sess…", "lib/streamlab/experim..."])
def test_a_cell_cut_with_an_ellipsis_fails(site: Path, cell: str) -> None:
    dom, page = _page(site, _CLEAN_TABLE.replace("<td>pika</td>", f"<td>{cell}</td>"))
    assert kinds(dom, page, site) == {"cut-cell"}


def test_a_stderr_block_fails(site: Path) -> None:
    body = ('<div class="cell_output docutils container"><div class="output stderr highlight-myst-ansi notranslate">'
            '<div class="highlight"><pre>Traceback-free warning: something went to stderr</pre></div></div></div>')
    dom, page = _page(site, body)
    assert kinds(dom, page, site) == {"stderr-output"}


@pytest.mark.parametrize("line", [
    "SESSTMOUT [tour-consumer#consumer-17] [thrd:main]: Consumer group session timed out",
    "%4|1701990000.123|GETPID|rdkafka#consumer-1| [thrd:main]: Failed to get PID",
    "[2026-12-07 22:00:01,123] WARN [Broker id=1] something (kafka.server.ReplicaManager)",
    "WARNING:pika.adapters.utils.io_services_utils:Socket closed when connection was open",
])
def test_a_client_log_line_in_an_output_fails(site: Path, line: str) -> None:
    body = (f'<div class="cell_output"><div class="output stream highlight-myst-ansi"><pre>{html.escape(line)}</pre>'
            '</div></div>')
    dom, page = _page(site, body)
    assert kinds(dom, page, site) == {"client-log"}


def test_a_log_line_quoted_in_prose_is_not_an_output(site: Path) -> None:
    quote = "<blockquote><p>SESSTMOUT [tour-consumer#consumer-17] [thrd:main]: timed out</p></blockquote>"
    dom, page = _page(site, quote)
    assert kinds(dom, page, site) == set()


def _graph_svg(width_pt: float, box_width: float, font: float) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_pt}pt" height="100pt" '
            f'viewBox="0 0 {box_width} 100"><g transform="scale(1 1) rotate(0) translate(4 96)">'
            f'<text font-size="{font}">node</text><ellipse rx="2" ry="2"/></g></svg>')


def test_svg_text_size_is_the_font_times_the_shown_scale() -> None:
    assert htmlcheck.svg_smallest_text(_graph_svg(3000, 3000, 14), shown_width=750) == pytest.approx(3.5)
    assert htmlcheck.svg_smallest_text(_graph_svg(600, 600, 14), shown_width=600) == pytest.approx(14)
    styled = ('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50">'
              '<g style="font: 10px sans"><text>x</text></g></svg>')
    assert htmlcheck.svg_smallest_text(styled, shown_width=50) == pytest.approx(5)


# --------------------------------------------------------------------------- measured in Chromium

needs_chromium = pytest.mark.skipif(not Path(htmlcheck.CHROMIUM).exists(), reason="needs Debian's chromium")

_ARTICLE = ('<html><head><style>body {{ margin: 0; }} article {{ width: 600px; padding: 0 20px; }}'
            '.scroll {{ overflow-x: auto; }} td {{ white-space: nowrap; }}</style></head>'
            '<body><article class="bd-article"><h1>T</h1>{}</article></body></html>')


def _measured(site: Path, body: str) -> set[str]:
    page = site / "measured.html"
    page.write_text(_ARTICLE.format(body), encoding="utf-8")
    layout = htmlcheck.measure_layout(page)
    assert layout.column == 600
    return {p.kind for p in htmlcheck.layout_problems(layout, page, site)}


_WIDE_ROW = "<table><tbody><tr>" + "<td>a long measured value</td>" * 12 + "</tr></tbody></table>"


@needs_chromium
def test_a_table_wider_than_the_column_fails_and_one_that_scrolls_in_its_box_passes(site: Path) -> None:
    assert _measured(site, f'<div class="cell_output">{_WIDE_ROW}</div>') == {"too-wide"}
    assert _measured(site, f'<div class="cell_output"><div class="scroll">{_WIDE_ROW}</div></div>') == set()


@needs_chromium
def test_a_chart_wider_than_the_column_fails(site: Path) -> None:
    (site / "_images/wide.svg").write_text(_graph_svg(900, 900, 14).replace("pt", "px"), encoding="utf-8")
    body = '<div class="cell_output"><img src="_images/wide.svg" style="max-width: none"></div>'
    assert _measured(site, body) == {"too-wide"}
    assert _measured(site, body.replace("max-width: none", "max-width: 100%")) == set()


@needs_chromium
def test_small_svg_text_fails_as_displayed(site: Path) -> None:
    (site / "_images/graph.svg").write_text(_graph_svg(3000, 3000, 14), encoding="utf-8")
    assert _measured(site, '<div class="cell_output"><img src="_images/graph.svg" style="max-width: 100%"></div>') \
        == {"small-svg-text"}
    inline = ('<div class="cell_output"><svg xmlns="http://www.w3.org/2000/svg" width="200" height="50">'
              '<text x="1" y="20" font-size="{}">label</text></svg></div>')
    assert _measured(site, inline.format(5)) == {"small-svg-text"}
    assert _measured(site, inline.format(12)) == set()


def _wide_table(columns: int) -> str:
    head = "".join(f"<th>c{i}</th>" for i in range(columns))
    row = "".join(f"<td>{i}</td>" for i in range(columns))
    return f'<div class="cell_output"><table><thead><tr>{head}</tr></thead><tbody><tr>{row}</tr></tbody></table></div>'


def test_a_table_of_more_than_eight_columns_fails_in_the_main_text_not_in_an_appendix(site: Path) -> None:
    dom, page = _page(site, _wide_table(htmlcheck.MAX_COLUMNS + 1))
    assert kinds(dom, page, site) == {"too-many-columns"}
    dom, page = _page(site, _wide_table(htmlcheck.MAX_COLUMNS))
    assert kinds(dom, page, site) == set()
    dom, page = _page(site, _wide_table(htmlcheck.MAX_COLUMNS + 1), name="appendix-patterns.html")
    assert kinds(dom, page, site) == set()


def test_an_appendix_is_known_by_its_folder_too(site: Path) -> None:
    (site / "book" / "appendix").mkdir(parents=True)
    dom, page = _page(site, _wide_table(htmlcheck.MAX_COLUMNS + 1), name="book/appendix/02-details.html")
    assert kinds(dom, page, site) == set()
    dom, page = _page(site, _wide_table(htmlcheck.MAX_COLUMNS + 1), name="book/02-details.html")
    assert kinds(dom, page, site) == {"too-many-columns"}


def _section(prose: str, output: str) -> str:
    return (f'<section id="s"><h2>Consumer lag</h2><p>{prose}</p>'
            f'<div class="cell_output"><p>{output}</p></div></section>')


def _data_file(site: Path, path: str) -> None:
    (site / path).parent.mkdir(parents=True, exist_ok=True)
    (site / path).write_text("a,b\n1,2\n", encoding="utf-8")


def test_a_data_link_whose_promised_table_is_not_shown_fails(site: Path) -> None:
    _data_file(site, "01-application_files/lag.csv")
    link = 'Data: <a href="01-application_files/lag.csv">lag.csv</a> (12 rows)'
    dom, page = _page(site, _section("The first table shows the lag of each group.", link))
    assert kinds(dom, page, site) == {"data-link-without-table"}
    # the table shown beside its link, or prose that promises no table: both pass
    dom, page = _page(site, _section("The first table shows the lag of each group.", link).replace(
        "</section>", _wide_table(3) + "</section>"))
    assert kinds(dom, page, site) == set()
    dom, page = _page(site, _section("The lag stayed under a second; the file has every sample.", link))
    assert kinds(dom, page, site) == set()


def test_a_table_in_a_subsection_does_not_count_for_its_parent(site: Path) -> None:
    _data_file(site, "x_files/runs.csv")
    link = 'Data: <a href="x_files/runs.csv">runs.csv</a>'
    body = _section("Each run is a row of the table.", link).replace(
        "</section>", f'<section id="t"><h3>Later</h3>{_wide_table(3)}</section></section>')
    dom, page = _page(site, body)
    assert kinds(dom, page, site) == {"data-link-without-table"}


def test_a_chart_in_a_chapter_must_be_a_numbered_figure(site: Path) -> None:
    (site / "_images" / "c.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10pt" height="10pt"><rect/><ellipse rx="2"/></svg>',
        encoding="utf-8")
    (site / "book" / "chapters").mkdir(parents=True)
    bare = '<div class="cell_output"><img src="../../_images/c.svg"/></div>'
    numbered = ('<div class="cell_output"><figure id="fig-x"><img src="../../_images/c.svg"/><figcaption><p>'
                '<span class="caption-number">Figure 4.2 </span><span class="caption-text">A chart.</span>'
                '</p></figcaption></figure></div>')
    dom, page = _page(site, bare, name="book/chapters/04-x.html")
    assert kinds(dom, page, site) == {"unnumbered-figure"}
    dom, page = _page(site, numbered, name="book/chapters/04-x.html")
    assert kinds(dom, page, site) == set()
    copy_button = ('<div class="cell_output"><div class="highlight"><pre>text</pre><button class="copybtn">'
                   '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><title>Copy to clipboard</title>'
                   '<path d="M0 0h10v10H0z"/></svg>'
                   '</button></div></div>')
    dom, page = _page(site, copy_button, name="book/chapters/04-x.html")
    assert kinds(dom, page, site) == set()
    (site / "book" / "appendix").mkdir(parents=True)
    dom, page = _page(site, bare, name="book/appendix/04-x.html")      # numbers are the chapters' own
    assert kinds(dom, page, site) == set()
