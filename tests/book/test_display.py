"""The book's one table display: what a reader sees of a DataFrame on a page."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from streamlab.book import display


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _cells(html: str) -> list[list[str]]:
    return [[td.get_text() for td in tr.find_all("td")] for tr in _soup(html).select("tbody tr")]


def _headers(html: str) -> list[str]:
    return [th.get_text() for th in _soup(html).select("thead th")]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("latency_ms", "latency (ms)"),
        ("e2e_p99_ms", "e2e p99 (ms)"),
        ("records_per_s", "records/s"),
        ("mb_per_s", "MB/s"),
        ("busy_pct", "busy (%)"),
        ("rss_mb", "RSS (MB)"),
        ("wall_s", "wall (s)"),
        ("windows_expected", "windows expected"),
        ("p99 (ms)", "p99 (ms)"),
        ("min.insync.replicas", "min.insync.replicas"),
        ("Kafka", "Kafka"),
        (("after", "p50_ms"), "after · p50 (ms)"),
    ],
)
def test_headers_carry_units_and_read_as_words(name: object, shown: str) -> None:
    assert display.header(name) == shown


def test_a_named_unit_wins() -> None:
    assert display.header("lag", unit="records") == "lag (records)"


def test_positional_index_is_not_shown_and_a_named_one_is_the_first_column() -> None:
    frame = pd.DataFrame({"broker": [1, 2], "leaders": [3, 4]})
    assert _headers(display.table_html(frame)) == ["broker", "leaders"]
    assert _headers(display.table_html(frame.set_index("broker"))) == ["broker", "leaders"]
    assert _cells(display.table_html(frame.set_index("broker")))[0] == ["1", "3"]


def test_a_transposed_table_keeps_its_row_labels() -> None:
    frame = pd.DataFrame({"policy": ["a", "b"], "segments": [3, 4]}).set_index("policy").T
    assert _cells(display.table_html(frame)) == [["segments", "3", "4"]]


def test_multiindex_rows_and_columns_become_flat_columns() -> None:
    frame = pd.DataFrame({("before", "p50_ms"): [1.5], ("after", "p50_ms"): [0.5]},
                         index=pd.MultiIndex.from_tuples([("kafka", "x")], names=["broker", "case"]))
    assert _headers(display.table_html(frame)) == ["broker", "case", "before · p50 (ms)", "after · p50 (ms)"]


def test_missing_values_show_a_dash_and_the_caption_says_why() -> None:
    frame = pd.DataFrame({"client": ["pika", "aio_pika"], "rate": [1200.0, math.nan], "note": [None, "x"]})
    html = display.table_html(frame, "Publish rates", missing="– : aio_pika was not run in the quick profile")
    text = _soup(html).get_text()
    assert "nan" not in text.lower() and "None" not in text
    assert _cells(html) == [["pika", "1,200", "–"], ["aio_pika", "–", "x"]]
    assert "aio_pika was not run in the quick profile" in _soup(html).caption.get_text()


def test_a_table_without_missing_values_has_no_missing_note() -> None:
    html = display.table_html(pd.DataFrame({"a": [1]}), "One row")
    assert _soup(html).caption.get_text() == "One row."


def test_missing_values_get_a_default_reason() -> None:
    html = display.table_html(pd.DataFrame({"a": [1.0, np.nan]}))
    assert display.MISSING_REASON[2:] in _soup(html).caption.get_text()


def test_long_text_is_kept_whole_and_wraps() -> None:
    long = "the consumer group rebalanced twice because the session timeout expired " * 3
    html = display.table_html(pd.DataFrame({"what": [long], "n": [1]}))
    cell = _soup(html).select_one("tbody td")
    assert cell.get_text() == long and "…" not in html and "..." not in html
    assert "sl-wrap" in cell["class"]


def test_numbers_get_separators_and_one_precision_per_column() -> None:
    frame = pd.DataFrame({"records": [1234567, 12], "ms": [1.234, 12.5], "big": [1234.56, 99.0],
                          "ok": [True, False], "tiny": [0.000123, 0.00045]})
    assert _cells(display.table_html(frame)) == [["1,234,567", "1.23", "1,234.6", "yes", "0.00012"],
                                                 ["12", "12.50", "99.0", "no", "0.00045"]]


def test_format_spec_and_infinity() -> None:
    html = display.table_html(pd.DataFrame({"ratio": [0.5, None]}), formats={"ratio": ".0%"})
    assert _cells(html) == [["50%"], ["–"]]
    assert display.format_value(float("inf")) == "∞"


def test_numeric_cells_are_right_aligned_by_class() -> None:
    html = display.table_html(pd.DataFrame({"name": ["a"], "n": [1]}))
    assert [td.get("class") for td in _soup(html).select("tbody td")] == [None, ["sl-num"]]


def test_a_table_without_rows_is_a_sentence_not_a_header() -> None:
    frame = pd.DataFrame(columns=["queue", "type"])
    html = display.table_html(frame, "Queue types", empty="the RabbitMQ node was not reachable")
    assert "<table" not in html
    assert _soup(html).get_text() == "Queue types: the RabbitMQ node was not reachable."
    assert _soup(display.table_html(frame)).get_text() == display.EMPTY_REASON.capitalize() + "."


def test_text_is_escaped() -> None:
    html = display.table_html(pd.DataFrame({"error": ["<script>x</script>"]}), "a <b>")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_table_links_its_data_in_the_caption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x_files").mkdir()
    shown = display.table(pd.DataFrame({"a": [1]}), "Results", data=tmp_path / "x_files" / "r.csv")
    caption = _soup(shown._repr_html_()).caption
    assert caption.a["href"] == "x_files/r.csv" and caption.get_text() == "Results. Data: r.csv."


def test_every_dataframe_a_kernel_shows_uses_the_book_display() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert display.use_book_tables()
        frame = pd.DataFrame({"latency_ms": [1.0, None]})
        bundle, _ = shell.display_formatter.format(frame)
        assert "sl-table" in bundle["text/html"] and "NaN" not in bundle["text/html"]
        styled, _ = shell.display_formatter.format(frame.style.set_caption("Styled"))
        assert "sl-table" in styled["text/html"] and "Styled" in styled["text/html"]
        series, _ = shell.display_formatter.format(pd.Series({"a": 1.5}, name="seconds"))
        assert "sl-table" in series["text/html"] and "dtype" not in series["text/html"]
    finally:
        InteractiveShell.clear_instance()


def test_outside_a_kernel_nothing_is_registered() -> None:
    assert display.use_book_tables() is False


def test_show_table_saves_what_it_shows_and_links_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame({"image": ["app", "base"], "size_mb": [310.4, 120.0]}).set_index("image")
    shown = display.show_table(frame, tmp_path, "images.csv", "The images")
    assert pd.read_csv(tmp_path / "images.csv").columns.tolist() == ["image", "size_mb"]
    caption = _soup(shown._repr_html_()).caption
    assert caption.a["href"] == "images.csv" and _cells(shown._repr_html_())[0] == ["app", "310"]


def test_identifiers_are_written_without_separators() -> None:
    frame = pd.DataFrame({"node": [1], "port": [6022], "pid": [16223], "end_offset": [12045], "records": [12045]})
    assert _cells(display.table_html(frame)) == [["1", "6022", "16223", "12045", "12,045"]]


def test_a_transposed_table_of_mixed_measures_keeps_each_numbers_precision() -> None:
    frame = pd.DataFrame({"implementation": ["hand", "streams"], "windows": [120, 118], "restore_s": [3.456, 0.25],
                          "relaunched": [True, False]}).set_index("implementation").T
    assert _cells(display.table_html(frame)) == [["windows", "120", "118"], ["restore (s)", "3.46", "0.25"],
                                                 ["relaunched", "yes", "no"]]
