"""Charts of "RabbitMQ at the speed of RabbitMQ" (issue 17), for chapter 03.

`ratio_chart`: every acceptance figure as pika ÷ PerfTest (or app hop ÷ raw
pika) on one axis with its target as a tick, so a reader sees at once which
hold. `latency_chart`: e2e p50 and p99 per driver at each of the fixed rates
all drivers ran at. `profile_chart`: the CPU share by component of pika's
producer and consumer in one max-rate run (`experiments.patterns.pika_profile`).
All read the tidy tables of `experiments.patterns.rabbitmq_speed`.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from . import BAR_WIDTH, _title, series_scale


def ratio_chart(table: pd.DataFrame, subtitle: str | None = None) -> alt.LayerChart:
    """Bars of `ratio` per figure (from `speed_table`), coloured by whether the target holds; the target as a tick."""
    data = table.dropna(subset=["ratio"]).assign(
        label=lambda t: t["figure"] + " · " + t["setting"],
        target_value=lambda t: t["target"].str.extract(r"([\d.]+)")[0].astype(float),
        verdict=lambda t: t["met"].map({True: "target met", False: "target missed"}))
    order = list(data["label"])
    base = alt.Chart(data, title=_title("pika beside PerfTest (and the app beside raw pika)", subtitle))
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=360))
    bars = base.mark_bar().encode(
        y=y, x=alt.X("ratio:Q", title="ratio (throughput: ≥ target is good; latency: ≤ target is good)"),
        color=alt.Color("verdict:N", scale=alt.Scale(domain=["target met", "target missed"],
                                                     range=["#009E73", "#D55E00"]), title=None),
        tooltip=["figure", "setting", "pika", "perftest", alt.Tooltip("ratio:Q", format=".2f"), "target"])
    ticks = base.mark_tick(color="#1f2933", thickness=2, size=14).encode(y=y, x="target_value:Q")
    text = base.mark_text(align="left", dx=4, color="#52606d").encode(
        y=y, x="ratio:Q", text=alt.Text("ratio:Q", format=".2f"))
    return alt.layer(bars, ticks, text).properties(width=BAR_WIDTH)


def latency_chart(results: pd.DataFrame, subtitle: str | None = None) -> alt.Chart:
    """e2e p50 and p99 (ms, log scale) per driver against the fixed rate; one panel per percentile."""
    frame = results[(results["experiment"] == "latency") & (results["role"] == "e2e")
                    & (results["metric"].isin(["p50_ms", "p99_ms"]))]
    data = (frame.groupby(["driver", "target_rate", "metric"], as_index=False)["value"].median()
            .assign(percentile=lambda t: t["metric"].str[:3]))
    chart = alt.Chart(data, title=_title("End-to-end latency at the same fixed rates", subtitle))
    return chart.mark_line(point=True).encode(
        x=alt.X("target_rate:Q", title="fixed rate (msg/s)"),
        y=alt.Y("value:Q", title="latency (ms)", scale=alt.Scale(type="log")),
        color=alt.Color("driver:N", scale=series_scale(data["driver"].unique()), title="driver"),
        column=alt.Column("percentile:N", title=None),
    ).properties(width=BAR_WIDTH // 2)


def profile_chart(profile: pd.DataFrame, subtitle: str | None = None) -> alt.Chart:
    """Horizontal bars of CPU share (%) per component, one row of bars per process (consumer, producer)."""
    order = list(dict.fromkeys(profile["component"]))
    chart = alt.Chart(profile, title=_title("Where pika's CPU goes at max rate", subtitle))
    return chart.mark_bar().encode(
        y=alt.Y("component:N", sort=order, title=None, axis=alt.Axis(labelLimit=240)),
        x=alt.X("share_pct:Q", title="share of the process's CPU samples (%)", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("component:N", scale=series_scale(order), legend=None),
        row=alt.Row("process:N", title=None, sort=["consumer", "producer"]),
        tooltip=["process", "component", "samples", alt.Tooltip("share_pct:Q", format=".1f")],
    ).properties(width=BAR_WIDTH)


__all__ = ["ratio_chart", "latency_chart", "profile_chart"]
