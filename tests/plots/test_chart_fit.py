"""The house style's charts fit: titles, axis labels and legends inside the picture, apart, and not cut short;
one colour per series. Measured in headless Chromium (see `chartfit`), on charts built from tidy frames shaped
like the chapters' (the names and magnitudes that went wrong in a built book: long titles, the machine caption,
x ticks in the tens of thousands, long series names)."""

from __future__ import annotations

import sys
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "book"))
sys.path.insert(0, str(Path(__file__).parent))
import chartfit
import htmlcheck

from streamlab import plots
from streamlab.experiments.application import metrics
from streamlab.plots import application, deep_dives, patterns, profiling

pytestmark = pytest.mark.skipif(not Path(htmlcheck.CHROMIUM).exists(), reason="needs Debian's chromium (make setup)")

LONG_SUBTITLE = "measured on 2 cores, 23.5 GiB RAM, Intel(R) Xeon(R) Processor @ 2.20GHz, Python 3.11.7"


def _knee() -> alt.TopLevelMixin:
    frame = pd.DataFrame({"fraction": [0.25, 0.5, 0.75, 1.0], "received_per_s": [27500.0, 28400.0, 29300.0, 30100.0],
                          "e2e_p50_ms": [1.2, 1.9, 3.1, 45.0], "e2e_p99_ms": [3.0, 4.4, 9.0, 180.0],
                          "error": [""] * 4})  # fmt: skip
    return deep_dives.knee(frame)


def _stage_flow() -> tuple[pd.DataFrame, list[str]]:
    rows = []
    for stream, stages in (("telemetry → health records", ["generator (sent)", "processor (in)", "processor (out)",
                                                            "sink (written)"]),
                           ("vibration windows", ["generator (sent)", "processor (in)"])):  # fmt: skip
        for stage in stages:
            rows += [{"stream": stream, "stage": stage, "t_s": t, "rate": 200 + 5 * np.sin(t)} for t in range(30)]
    return pd.DataFrame(rows), list(metrics.STAGE_ORDER)


def _lag() -> alt.TopLevelMixin:
    groups = ["health-processor", "parquet-sink", "csv-alert-sink", "raw-archive-sink", "latest-health-compactor"]
    frame = pd.DataFrame([{"t_s": t, "group": g, "lag": (i + 1) * 40 + t} for i, g in enumerate(groups)
                          for t in range(20)])  # fmt: skip
    return application.consumer_lag_chart(frame)


def _latency_over_time() -> alt.TopLevelMixin:
    stages = ["generator → processor", "processor → sink", "end to end (sent → on disk)"]
    frame = pd.DataFrame([{"t_s": t, "stage": s, "statistic": st, "latency_ms": (i + 1) * (3 if st == "p99" else 1)}
                          for i, s in enumerate(stages) for st in ("p50", "p99") for t in range(0, 30, 3)])
    return application.latency_over_time_chart(frame)


def _stage_latency() -> alt.TopLevelMixin:
    stages = ["generator → processor", "processor → sink", "end to end (sent → on disk)"]
    frame = pd.DataFrame([{"stage": s, "percentile": p, "latency_ms": (i + 1) * p / 10}
                          for i, s in enumerate(stages) for p in (50, 90, 99, 99.9, 100)])
    return application.stage_latency_chart(frame, 12000, 5.0)


def _churn() -> alt.TopLevelMixin:
    files = ["experiments/deep_dives/limits.py", "experiments/patterns/rabbitmq_speed.py", "pipeline/runner.py",
             "transport/kafka_confluent.py", "experiments/faults/scenarios.py", "book/runner.py"]
    frame = pd.DataFrame({"file": files, "commits": [61, 48, 40, 33, 30, 21]})
    return plots.bar_compare(frame, "file", "commits", title="Library modules changed by the most commits",
                             value_title="commits", subtitle="")


def _scaling() -> alt.TopLevelMixin:
    frame = pd.DataFrame([{"backend": b, "consumers": n, "msgs_per_s": 1000 * n * (1 + i)}
                          for i, b in enumerate(["Kafka", "RabbitMQ"]) for n in (1, 2, 4, 8)])
    return patterns.scaling_chart(frame, subtitle=LONG_SUBTITLE)


def _group_scaling() -> alt.TopLevelMixin:
    rows = [{"consumers": n, "member": m, "partitions_owned": 6 // n if m < 6 else 0, "idle": m >= 6}
            for n in (1, 3, 8) for m in range(n)]
    return deep_dives.group_scaling(pd.DataFrame(rows))


def _icicle() -> alt.TopLevelMixin:
    rows = [{"function": "run", "where": "services/health_processor.py:236", "depth": 0, "start": 0.0, "end": 1.0},
            {"function": "poll_batch", "where": "transport/kafka_confluent.py:210", "depth": 1, "start": 0.0,
             "end": 0.55},
            {"function": "score_batch_vectorised_with_a_long_name", "where": "domain/health.py:80", "depth": 1,
             "start": 0.55, "end": 0.95},
            {"function": "<method 'consume' of 'cimpl.Consumer' objects>", "where": "built-in", "depth": 2,
             "start": 0.0, "end": 0.5}]  # fmt: skip
    frame = pd.DataFrame(rows).assign(share=lambda f: f["end"] - f["start"], seconds=lambda f: f["end"] - f["start"])
    return profiling.icicle(frame, "Processor, unthrottled: where the time goes (icicle)")


def _hop_latency() -> alt.TopLevelMixin:
    hops = ["generator → broker", "broker → processor", "processor → sink", "end to end"]
    values = np.random.default_rng(1).exponential(5, 100)
    samples = pd.DataFrame([{"setting": setting, "hop": hop, "ms": float(v)}
                            for setting in ("defaults", "low-latency settings") for hop in hops for v in values])
    summary = pd.DataFrame({"setting": ["Kafka EndToEndLatency"] * 3, "metric": ["p50_ms", "p99_ms", "p999_ms"],
                            "value": [2.0, 8.0, 20.0]})
    return profiling.hop_latency(samples, summary)


def _loop_times() -> alt.TopLevelMixin:
    services = ["telemetry_generator", "health_processor", "health_parquet_sink"]
    frame = pd.DataFrame([{"service": service, "run": run, "us_per_record": 10.0 ** (i + 1) * (1 + run / 10)}
                          for i, service in enumerate(services) for run in range(5) for _ in range(4)])
    return profiling.loop_time_distribution(frame)


def _vibration_window() -> alt.TopLevelMixin:
    t = np.arange(256) * 1000 / 2048
    axes = pd.DataFrame([{"t_ms": ms, "axis": axis, "accel": np.sin(ms / (3 + i))}
                         for i, axis in enumerate("xyz") for ms in t])
    return application.vibration_window_chart(axes, "M000")


def _stage_rates() -> alt.TopLevelMixin:
    flow, order = _stage_flow()
    return application.stage_rates_chart(flow, order)


CHARTS = {"knee": _knee, "consumer lag": _lag, "latency over time": _latency_over_time,
          "stage latency": _stage_latency, "git churn": _churn, "scaling": _scaling,
          "group scaling": _group_scaling, "icicle": _icicle, "stage rates": _stage_rates,
          "hop latency": _hop_latency, "loop times": _loop_times, "vibration window": _vibration_window}  # fmt: skip


def _svg(chart: alt.TopLevelMixin) -> str:
    return chart._repr_mimebundle_()["image/svg+xml"]


@pytest.fixture(scope="module")
def measured() -> dict[str, chartfit.Measured]:
    return chartfit.measure({name: _svg(build()) for name, build in CHARTS.items()})


@pytest.mark.parametrize("name", list(CHARTS))
def test_chart_text_fits_and_keeps_apart(measured: dict[str, chartfit.Measured], name: str) -> None:
    assert chartfit.text_problems(measured[name]) == []


@pytest.mark.parametrize("name", list(CHARTS))
def test_chart_fits_the_books_column(measured: dict[str, chartfit.Measured], name: str) -> None:
    """No wider than the column at 1280 px, so the picture is not shrunk there and its 12-px text stays 12 px."""
    assert measured[name].width <= plots.MAX_FIGURE_WIDTH


def test_the_checker_sees_what_went_wrong_in_the_book() -> None:
    """Text outside the picture, a title cut with "…", tick labels run together and a figure made too wide
    by its subtitle are each found."""
    from altair.vegalite.v6.display import svg_renderer as altair_svg  # without the house's title wrapping

    frame = pd.DataFrame({"x": [28000.0, 30000.0], "y": [1.0, 2.0]})
    line = alt.Chart(frame).mark_line().encode(x="x", y="y")
    charts = {
        "long": line.properties(title=alt.TitleParams("T", subtitle=LONG_SUBTITLE * 2)),
        "outside": line.properties(autosize="none", padding=0),  # the y axis drawn left of the picture
        "cut": line.properties(title=alt.TitleParams("who owns what, and why", limit=60)),
        "crowded": alt.Chart(frame).mark_line().encode(
            x=alt.X("x:Q", axis=alt.Axis(values=[28000, 28500, 29000], labelOverlap=False)), y="y",
        ).properties(width=60),
    }
    measured = chartfit.measure({name: altair_svg(chart.to_dict())["image/svg+xml"] for name, chart in charts.items()})
    found = {name: chartfit.text_problems(fig) for name, fig in measured.items()}
    assert measured["long"].width > plots.MAX_FIGURE_WIDTH
    assert any("outside the picture" in p for p in found["outside"])
    assert any("cut short" in p for p in found["cut"])
    assert any("overlapping: '28,000' and '28,500'" in p for p in found["crowded"])


def test_tick_labels_that_touch_read_as_one_number_and_are_found() -> None:
    def label(text: str, x0: float) -> chartfit.Box:
        return chartfit.Box(text, "role-axis-label", x0, 100.0, x0 + 42.0, 114.0, 12.0)

    touching = chartfit.Measured("ticks", 300, 200, [label("28,000", 10.0), label("30,000", 52.5)])
    apart = chartfit.Measured("ticks", 300, 200, [label("28,000", 10.0), label("30,000", 60.0)])
    assert chartfit.text_problems(touching) == ["run together: '28,000' and '30,000'"]
    assert chartfit.text_problems(apart) == []


def test_the_house_theme_keeps_dense_ticks_apart_on_a_narrow_chart() -> None:
    """With the old axis settings (no label separation, 8 ticks, labels centred on the ends) this chart drew
    '28,000' over '30,000' and over the y axis's '0.0'."""
    frame = pd.DataFrame({"rate": np.linspace(28_000, 41_000, 14), "ms": np.linspace(1, 3, 14)})
    narrow = plots.line_over_time(frame, "rate", "ms", title="Knee", subtitle="").properties(width=260)
    assert chartfit.text_problems(chartfit.measure({"narrow": _svg(narrow)})["narrow"]) == []


def test_the_house_renderer_wraps_a_long_subtitle_to_the_chart() -> None:
    """The same long subtitle, through the house renderer: wrapped, within the column's width."""
    frame = pd.DataFrame({"x": [28000.0, 30000.0], "y": [1.0, 2.0]})
    long = alt.Chart(frame, title=alt.TitleParams("T", subtitle=LONG_SUBTITLE * 2)).mark_line().encode(x="x", y="y")
    fig = chartfit.measure({"long": _svg(long)})["long"]
    assert chartfit.text_problems(fig) == [] and fig.width <= plots.MAX_FIGURE_WIDTH


def _colour_ranges(spec: dict) -> list[dict]:
    """The colour scales with an explicit range, in every encoding of the spec."""
    return [enc["color"]["scale"] for enc in chartfit.encodings(spec)
            if isinstance(enc.get("color"), dict) and isinstance(enc["color"].get("scale"), dict)
            and "range" in enc["color"]["scale"]]


def test_every_series_of_the_stage_chart_has_its_own_colour() -> None:
    """ "processor (in)" and "processor (out)" shared one colour and were told apart by a dash only."""
    scales = _colour_ranges(_stage_rates().to_dict())
    assert scales, "the stage chart colours its series"
    for scale in scales:
        assert len(set(scale["range"])) == len(scale["domain"]), scale


def test_series_scale_gives_distinct_colours_to_as_many_series_as_the_palette_has() -> None:
    names = [f"series {i}" for i in range(len(plots.PALETTE) - len(plots.SERIES_COLORS))] + ["kafka", "rabbitmq"]
    assert len(set(plots.series_scale(names).to_dict()["range"])) == len(names)
