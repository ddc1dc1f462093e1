"""The house style: theme and offline SVG renderer on import, builders that draw, stable colours."""

from __future__ import annotations

import altair as alt
import htmlcheck
import pandas as pd
import pytest

from streamlab import plots


def svg_of(chart: alt.TopLevelMixin) -> str:
    bundle = chart._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml"}, "the book stores static SVG only (no JavaScript, no network)"
    return bundle["image/svg+xml"]


def test_import_enables_house_theme_and_svg_renderer() -> None:
    assert alt.theme.active == plots.THEME_NAME
    assert alt.renderers.active == plots.RENDERER_NAME


def test_line_over_time_draws_one_line_per_series() -> None:
    df = pd.DataFrame({"t": [0, 1, 2, 0, 1, 2], "v": [1, 2, 3, 3, 2, 1], "broker": ["kafka"] * 3 + ["rabbitmq"] * 3})
    svg = svg_of(plots.line_over_time(df, "t", "v", "broker", "Lines"))
    assert htmlcheck.svg_emptiness(svg) is None
    assert svg.count('class="mark-line role-mark') == 2  # one line mark per series


def test_bar_compare_and_latency_percentiles_draw() -> None:
    bars = pd.DataFrame({"client": ["python", "java"], "mb_s": [10.0, 40.0]})
    assert htmlcheck.svg_emptiness(svg_of(plots.bar_compare(bars, "client", "mb_s", title="Bars"))) is None
    lat = pd.DataFrame({"percentile": [50, 90, 99, 99.9, 100], "latency_ms": [1, 2, 4, 8, 20], "series": ["kafka"] * 5})
    assert htmlcheck.svg_emptiness(svg_of(plots.latency_percentiles(lat))) is None


def test_subtitle_names_the_machine_unless_switched_off() -> None:
    df = pd.DataFrame({"t": [0, 1], "v": [1, 2]})
    assert f"{plots.machine_facts()['logical cores']} cores" in svg_of(plots.line_over_time(df, "t", "v", title="T"))
    assert "cores" not in svg_of(plots.line_over_time(df, "t", "v", title="T", subtitle=""))


def test_known_series_keep_their_colour_wherever_they_appear() -> None:
    first = plots.series_scale(["rabbitmq", "other"]).to_dict()
    second = plots.series_scale(["x", "Kafka", "rabbitmq"]).to_dict()
    assert first["range"][0] == second["range"][2] == plots.SERIES_COLORS["rabbitmq"]
    assert second["range"][1] == plots.SERIES_COLORS["kafka"]
    assert len(set(second["range"])) == 3


@pytest.mark.parametrize(("percentile", "nines"), [(0, 0.0), (90, 1.0), (99, 2.0), (99.9, 3.0)])
def test_percentile_axis_counts_nines(percentile: float, nines: float) -> None:
    assert plots._nines(percentile) == pytest.approx(nines)


def test_machine_facts() -> None:
    facts = plots.machine_facts()
    assert facts["logical cores"] >= 1 and facts["memory (GiB)"] > 0


def test_cpu_load_sample_is_tidy() -> None:
    load = plots.sample_cpu_load(0.3, every=0.1)
    assert list(load.columns) == ["t_s", "core", "busy_pct"]
    assert len(load) >= plots.machine_facts()["logical cores"]
    assert load["busy_pct"].between(0, 100).all()
