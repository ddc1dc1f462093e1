"""Charts of chapter 01 (the application): its messages, the run's rates, latency, detections and the codecs.

Each builder takes the tidy frame the analysis (`streamlab.experiments.application`)
or the codec benchmark returns and gives back one altair chart in the house
style; the chapter only calls them.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from . import BAR_WIDTH, PALETTE, WIDTH, bar_compare, latency_percentiles, line_over_time, machine_caption, series_scale

STATE_COLORS = {"ok": "#009E73", "warning": "#E69F00", "critical": "#D55E00"}


def vibration_window_chart(axes: pd.DataFrame, machine: str) -> alt.FacetChart:
    """One vibration window, a panel per axis (``t_ms``, ``axis``, ``accel`` from `architecture.window_axes`)."""
    return alt.Chart(axes).mark_line(strokeWidth=1.2).encode(
        x=alt.X("t_ms:Q", title="time within the window (ms)"),
        y=alt.Y("accel:Q", title="m/s²", scale=alt.Scale(zero=False)),
        color=alt.Color("axis:N", legend=None),
    ).properties(width=WIDTH, height=90).facet(
        row=alt.Row("axis:N", title=None, header=alt.Header(labelAngle=0, labelOrient="top", labelAnchor="start")),
        title=alt.TitleParams(f"One vibration window of a healthy machine ({machine})",
                              subtitle="simulated accelerometer; the 1× rotation line dominates x and y"),
    ).resolve_scale(y="independent")


def band_energy_chart(bands: pd.DataFrame, conditions: Sequence[str]) -> alt.LayerChart:
    """RMS per frequency band and machine condition (``condition``, ``band``, ``rms``), labelled bars."""
    order = list(conditions)
    scale = alt.Scale(domain=order, range=[PALETTE[2], PALETTE[5], PALETTE[0], PALETTE[1]][:len(order)])
    base = alt.Chart(bands, title=alt.TitleParams(
        "Vibration band energy by machine condition",
        subtitle="illustration fleet, faults fully developed; RMS summed over the three axes")).encode(
        y=alt.Y("band:N", title="frequency band", sort=None),
        yOffset=alt.YOffset("condition:N", sort=order),
        x=alt.X("rms:Q", title="RMS acceleration in the band (m/s²)"),
    )
    return alt.layer(
        base.mark_bar().encode(color=alt.Color("condition:N", title="condition", scale=scale, sort=order)),
        base.mark_text(align="left", dx=4, color="#52606d").encode(text=alt.Text("rms:Q", format=".2f")),
    ).properties(width=BAR_WIDTH)


def stage_rates_chart(flow: pd.DataFrame, stage_order: Sequence[str]) -> alt.FacetChart:
    """Messages per second through each stage, a panel per stream (`metrics.stage_flow`)."""
    order = list(stage_order)
    return alt.Chart(flow).mark_line(point=True).encode(
        x=alt.X("t_s:Q", title="seconds since the generators started"),
        y=alt.Y("rate:Q", title="messages per second"),
        # One colour per stage (the processor's in and out once shared one, told apart by a dash only);
        # the dash stays as a second cue for what comes into the processor, in the same legend.
        color=alt.Color("stage:N", title="stage", sort=order,
                        scale=alt.Scale(domain=order, range=[PALETTE[0], PALETTE[1], PALETTE[5], PALETTE[2]])),
        strokeDash=alt.StrokeDash("stage:N", sort=order, title="stage",
                                  scale=alt.Scale(domain=order, range=[[1, 0], [4, 2], [1, 0], [1, 0]])),
    ).properties(width=WIDTH, height=170).facet(
        # Panel names above their panel: on the left they made the figure 170 px wider than the column.
        row=alt.Row("stream:N", title=None,
                    header=alt.Header(labelAngle=0, labelOrient="top", labelAnchor="start",
                                      labelFontWeight="bold")),
        title=alt.TitleParams("Messages per second through each stage", subtitle=machine_caption()),
    ).resolve_scale(y="independent")


def consumer_lag_chart(lag: pd.DataFrame) -> alt.Chart:
    """Records not yet committed per consumer group over the run (``t_s``, ``group``, ``lag``)."""
    return line_over_time(lag, "t_s", "lag", "group", "Consumer lag per group during the run",
                          x_title="seconds since the generators started", y_title="records not yet committed",
                          color_title="consumer group", points=True)


def stage_latency_chart(curve: pd.DataFrame, readings: int, after_s: float) -> alt.LayerChart:
    """The latency-percentile curve of every stage (`latency.latency_percentile_curve`), log scale."""
    return latency_percentiles(curve, series="stage", title="Latency of a reading, stage by stage",
                               series_title="stage", log_latency=True,
                               subtitle=f"{readings:,} readings, after the first {after_s:g} s; {machine_caption()}")


def latency_over_time_chart(over_time: pd.DataFrame) -> alt.Chart:
    """p50 and p99 per stage and time bin (`latency.latency_over_time`), log scale."""
    return alt.Chart(over_time, title=alt.TitleParams("Latency over the run (p50 and p99 per time bin)",
                                                      subtitle=machine_caption())).mark_line(point=True).encode(
        x=alt.X("t_s:Q", title="send time, seconds since the generators started"),
        y=alt.Y("latency_ms:Q", title="latency (ms)", scale=alt.Scale(type="log")),
        color=alt.Color("stage:N", title="stage", scale=series_scale(over_time["stage"].unique())),
        strokeDash=alt.StrokeDash("statistic:N", title="statistic"),
    )


def alerts_chart(faults: pd.DataFrame, timeline: pd.DataFrame, duration_s: float) -> alt.LayerChart:
    """Alerts (points, by new state) against the injected faults (bars from onset to failure; tick: developed)."""
    shown = sorted(set(faults["machine_id"]) | set(timeline["machine_id"]))
    end = float(max(duration_s, faults["failure_s"].max() if len(faults) else 0))
    y = alt.Y("machine_id:N", title="machine", sort=shown)
    windows = alt.Chart(faults).mark_bar(height=10, color="#9aa5b1", opacity=0.45).encode(
        y=y, x=alt.X("start_s:Q", title="seconds since the generators started", scale=alt.Scale(domain=[0, end])),
        x2="failure_s:Q", tooltip=["machine_id", "mode", "start_s", "failure_s"])
    developed = alt.Chart(faults).mark_tick(color="#52606d", thickness=2, size=14).encode(y=y, x="developed_s:Q")
    labels = alt.Chart(faults).mark_text(align="left", dx=4, fontSize=10, color="#52606d").encode(
        y=y, x="failure_s:Q", text="mode:N")
    states = alt.Scale(domain=list(STATE_COLORS), range=list(STATE_COLORS.values()))
    points = alt.Chart(timeline).mark_point(filled=True, size=70).encode(
        y=y, x="t_s:Q", color=alt.Color("state:N", title="alert: new state", scale=states),
        shape=alt.Shape("during_fault:N", title="during a fault",
                        scale=alt.Scale(domain=[True, False], range=["circle", "diamond"])))
    return alt.layer(windows, developed, labels, points).properties(
        width=WIDTH, height=max(120, 18 * len(shown)),
        title=alt.TitleParams("Alerts against the injected faults",
                              subtitle="bars: fault from onset to failure (tick: fully developed); points: alerts"))


def _codec_order(wide: pd.DataFrame) -> list[str]:
    return list(wide["codec"].drop_duplicates())


def codec_timing_chart(wide: pd.DataFrame, message_type: str) -> alt.LayerChart:
    """Encode and decode time per message of one type, per codec (the codec benchmark's wide summary)."""
    part = wide[wide["message_type"] == message_type]
    timing = part.melt(id_vars=["message_type", "codec"], value_vars=["encode_us", "decode_us"],
                       var_name="operation", value_name="us")
    timing["operation"] = timing["operation"].str.removesuffix("_us")
    return bar_compare(timing, "codec", "us", color="operation", title=f"Time per {message_type} message",
                       value_title="microseconds per message (median)", category_title="codec", color_title="",
                       sort=_codec_order(wide), labels=",.1f")


def codec_size_chart(wide: pd.DataFrame) -> alt.LayerChart:
    """Encoded size of each message type per codec, in percent of the standard library's JSON."""
    return bar_compare(wide.assign(percent=100 * wide["bytes_vs_json"]), "codec", "percent", color="message_type",
                       title="Encoded size relative to JSON", value_title="size in % of stdlib json",
                       category_title="codec", color_title="message", sort=_codec_order(wide), labels=".0f")
