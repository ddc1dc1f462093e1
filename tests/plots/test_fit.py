"""Titles wrapped to their chart's width before vl-convert draws them (no browser needed)."""

from __future__ import annotations

from streamlab.plots import fit


def test_a_short_title_is_left_alone() -> None:
    assert fit.fit_titles({"title": "Short", "width": 640}, 640) == {"title": "Short", "width": 640}


def test_a_long_subtitle_becomes_lines_that_fit_the_chart() -> None:
    subtitle = "measured on 2 cores, 23.5 GiB RAM, Intel(R) Xeon(R) Processor @ 2.20GHz, Python 3.11.7 " * 2
    spec = fit.fit_titles({"title": {"text": "T", "subtitle": subtitle}, "width": 400}, 640)
    lines = spec["title"]["subtitle"]
    assert isinstance(lines, list) and len(lines) >= 3
    assert " ".join(lines) == subtitle.strip()
    assert all(len(line) <= fit.chars_per_line(400, fit.SUBTITLE_SIZE) for line in lines)


def test_each_part_of_a_composed_chart_is_fitted_to_its_own_width() -> None:
    title = "A consumer group on 6 partitions: who owns what"
    spec = {"hconcat": [{"title": title, "width": 300}, {"title": title, "width": 640}], "title": title}
    fitted = fit.fit_titles(spec, 640)
    assert isinstance(fitted["hconcat"][0]["title"], list)  # 300 px: two lines
    assert fitted["hconcat"][1]["title"] == title  # 640 px: one
    assert fitted["title"] == title  # the whole is 940 px wide
    assert spec["hconcat"][0]["title"] == title  # the spec given is not changed


def test_a_facets_panel_width_counts_once() -> None:
    assert fit.spec_width({"facet": {"row": {"field": "x"}}, "spec": {"width": 360}}, 640) == 360
    assert fit.spec_width({"layer": [{"mark": "line"}]}, 640) == 640
