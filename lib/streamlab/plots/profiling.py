"""Charts of chapter 04: loop-time distributions, icicle pictures of profiles, before/after throughput."""

from __future__ import annotations

import altair as alt
import pandas as pd

from . import PALETTE, WIDTH, _title, machine_caption, series_scale


def loop_time_distribution(times: pd.DataFrame, title: str = "Time per record through each service's loop",
                           subtitle: str | None = None) -> alt.LayerChart:
    """Per service: every busy metrics interval as a dot (µs per record), one colour per run, and a box over all.

    A log axis, because the generator, the processor and the sink differ by
    more than a factor of ten.
    """
    frame = times.assign(run=times["run"].astype(str))
    base = alt.Chart(frame)
    x = alt.X("us_per_record:Q", title="µs per record (log)", scale=alt.Scale(type="log"))
    y = alt.Y("service:N", title=None)
    box = base.mark_boxplot(extent="min-max", opacity=0.35, size=26, color=PALETTE[0]).encode(x=x, y=y)
    dots = base.mark_circle(size=28, opacity=0.8).encode(
        x=x, y=y, yOffset=alt.YOffset("run:N"),
        color=alt.Color("run:N", title="run", scale=series_scale(sorted(frame["run"].unique()))),
        tooltip=["service", "run", alt.Tooltip("us_per_record:Q", format=",.1f")])
    # Narrower than the house width: the service names beside the axis made the figure wider than the column.
    return alt.layer(box, dots, title=_title(title, subtitle)).properties(width=WIDTH - 100, height=200)


#: The icicle's function names: body-text size, as the call graph's (issue 32: 9-px names were unreadable).
ICICLE_FONT_PX = 14
ICICLE_ROW_PX = 30


def icicle_labels(frame: pd.DataFrame, width: float = WIDTH, font_px: float = ICICLE_FONT_PX) -> pd.Series:
    """Each rectangle's label: its function's name cut to what fits its width at ``font_px`` ("…" marks a cut),
    empty where not even a few characters fit."""
    from .fit import EM_REGULAR

    def label(row: pd.Series) -> str:
        room = int((row["share"] * width - 8) / (font_px * EM_REGULAR))
        name = str(row["function"])
        if room >= len(name):
            return name
        return name[:room - 1] + "…" if room >= 5 else ""

    return frame.apply(label, axis=1) if len(frame) else pd.Series(dtype=str)


def icicle(frame: pd.DataFrame, title: str, subtitle: str | None = None) -> alt.LayerChart:
    """An icicle picture of a profile (root on top, callees below, width = share of the time).

    ``frame`` comes from :func:`streamlab.experiments.profiling.icicle_frame`; a rectangle carries its
    function's name at body-text size, cut to its width. Without a ``subtitle`` the picture names the
    ``snakeviz`` command that explores the profile interactively.
    """
    if subtitle is None and frame.attrs.get("prof"):
        subtitle = f"explore it: snakeviz {frame.attrs['prof']} · {machine_caption()}"
    data = frame.assign(label=icicle_labels(frame), pct=100 * frame["share"])
    base = alt.Chart(data)
    y = alt.Y("depth:O", title="call depth", axis=alt.Axis(labels=False, ticks=False))
    rects = base.mark_rect(stroke="white", strokeWidth=0.7).encode(
        x=alt.X("start:Q", title="share of the run's time", axis=alt.Axis(format="%")),
        x2="end:Q", y=y,
        color=alt.Color("pct:Q", title="% of time", scale=alt.Scale(scheme="oranges")),
        tooltip=["function", "where", alt.Tooltip("pct:Q", format=".1f"), alt.Tooltip("seconds:Q", format=".3f")])
    text = base.transform_filter(alt.datum.label != "").mark_text(
        align="left", dx=4, fontSize=ICICLE_FONT_PX).encode(
        x="start:Q", y=y, text="label:N",
        color=alt.condition(alt.datum.pct > 50, alt.value("white"), alt.value("#1f2933")))  # legible on dark blocks
    return alt.layer(rects, text, title=_title(title, subtitle)).properties(
        width=WIDTH, height=ICICLE_ROW_PX * (int(frame["depth"].max()) + 1))


def throughput_before_after(frame: pd.DataFrame, value: str = "records_per_s",
                            value_title: str = "telemetry records/s",
                            title: str = "Processor throughput, same session",
                            subtitle: str | None = None) -> alt.FacetChart:
    """``value`` per client and scoring path, median over rounds as a bar, every round as a tick."""
    base = alt.Chart()
    y = alt.Y("scoring:N", title=None)
    bars = base.mark_bar(opacity=0.8).encode(
        x=alt.X(f"median({value}):Q", title=value_title), y=y,
        color=alt.Color("scoring:N", legend=None, scale=series_scale(sorted(frame["scoring"].unique()))))
    ticks = base.mark_tick(color="#1f2933", thickness=2).encode(x=f"{value}:Q", y=y)
    text = base.mark_text(align="left", dx=4, dy=-8).encode(
        x=f"median({value}):Q", y=y, text=alt.Text(f"median({value}):Q", format=",.0f"))
    return alt.layer(bars, ticks, text, data=frame).properties(width=420, height=80).facet(
        row=alt.Row("client:N", title=None), title=_title(title, subtitle))


HOP_PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 100.0)


def hop_latency(samples: pd.DataFrame, summary: pd.DataFrame,
                title: str = "Latency per hop at nominal load, beside Kafka's EndToEndLatency",
                subtitle: str | None = None) -> alt.FacetChart:
    """Per hop: latency by percentile of each setting, and Kafka's tool (same run) as the reference line.

    ``samples`` holds one row per record and hop (``setting``, ``hop``, ``ms``);
    ``summary`` the tidy percentiles including the ``Kafka EndToEndLatency`` rows.
    """
    import numpy as np

    from . import _nines

    rows = []
    for (setting, hop), group in samples.groupby(["setting", "hop"], sort=False):
        values = np.percentile(group["ms"].to_numpy(), HOP_PERCENTILES)
        rows += [{"series": setting, "hop": hop, "percentile": p, "ms": v} for p, v in zip(HOP_PERCENTILES, values)]
    ref = summary[summary["setting"] == "Kafka EndToEndLatency"].set_index("metric")["value"]
    for hop in samples["hop"].unique():
        rows += [{"series": "Kafka EndToEndLatency", "hop": hop, "percentile": p, "ms": ref[m]}
                 for p, m in ((50.0, "p50_ms"), (99.0, "p99_ms"), (99.9, "p999_ms")) if m in ref]
    data = pd.DataFrame(rows)
    data["_nines"] = data["percentile"].map(_nines)
    x = alt.X("_nines:Q", title="percentile", scale=alt.Scale(domain=[0, 6]),
              axis=alt.Axis(values=[_nines(p) for p in (50, 90, 99, 99.9, 99.99)],
                            labelExpr="format(100 - 100 * pow(10, -datum.value), '.5~') + '%'"))
    chart = alt.Chart().mark_line(point=True).encode(
        x=x, y=alt.Y("ms:Q", title="ms (log)", scale=alt.Scale(type="log")),
        color=alt.Color("series:N", title=None, scale=series_scale(list(dict.fromkeys(data["series"])))),
        tooltip=["series", "hop", "percentile", alt.Tooltip("ms:Q", format=",.2f")])
    # Two panels a row: one row of four hops was 1,300 px wide, shrunk to the column with 7-px text.
    return chart.properties(width=280, height=200).facet(
        data=data, facet=alt.Facet("hop:N", title=None, sort=list(dict.fromkeys(data["hop"]))), columns=2,
        title=_title(title, subtitle))


def scoring_crossover(samples: pd.DataFrame, threshold: int,
                      title: str = "Processor CPU per reading, by readings per machine in a run",
                      subtitle: str | None = None) -> alt.LayerChart:
    """Both scoring paths' µs per reading against run size (log-log): median line, every run a dot, and a
    rule where the auto path starts to vectorise (``threshold`` readings per machine)."""
    scale = series_scale(sorted(samples["path"].unique()))
    x = alt.X("readings_per_machine:Q", title="readings per machine in the run (log)",
              scale=alt.Scale(type="log", base=2))
    y_title, y_scale = "CPU µs per reading (log)", alt.Scale(type="log")
    y = alt.Y("us_per_reading:Q", title=y_title, scale=y_scale)
    color = alt.Color("path:N", title="scoring path", scale=scale)
    base = alt.Chart(samples)
    line = base.mark_line(point=True).encode(
        x=x, y=alt.Y("median(us_per_reading):Q", title=y_title, scale=y_scale), color=color)
    dots = base.mark_circle(size=18, opacity=0.35).encode(
        x=x, y=y, color=color, tooltip=["path", "readings_per_machine", alt.Tooltip("us_per_reading:Q", format=",.1f")])
    rule_data = pd.DataFrame({"readings_per_machine": [threshold], "label": [f"auto vectorises from {threshold}"]})
    rule = alt.Chart(rule_data).mark_rule(strokeDash=[4, 3], color="#1f2933").encode(x="readings_per_machine:Q")
    text = alt.Chart(rule_data).mark_text(align="left", dx=4, dy=-110, fontSize=10, color="#1f2933").encode(
        x="readings_per_machine:Q", text="label:N")
    return alt.layer(line, dots, rule, text, title=_title(title, subtitle)).properties(width=WIDTH, height=240)
