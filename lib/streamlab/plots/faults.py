"""Charts of chapter 06: what a fault does to the delay from send to disk, over the run.

One figure per scenario class (services crashed, brokers broken): for each
scenario and broker, the worst send → on-disk delay of the records sent in each
half second, with the faults and restarts marked where they happened. A gap in
a line is a stretch whose records reached disk only after the outage.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from . import WIDTH, _title, series_scale


def outage_timeline(timeline: pd.DataFrame, events: pd.DataFrame, title: str, *,
                    subtitle: str | None = None) -> alt.FacetChart:
    """`timeline`: scenario, broker, sent_s, max_delay_s (ledger.durable_timeline per run);
    `events`: scenario, broker, t_s, event (kills, restarts, resumes)."""
    marks = events[events["event"].str.contains("killed|paused|restarted|resumed|back|filled|freed|failed")]
    data = pd.concat([timeline.assign(kind="delay"),
                      marks[["scenario", "broker", "t_s", "event"]].assign(kind="event")], ignore_index=True)
    base = alt.Chart()
    lines = base.mark_line(point=True).encode(
        x=alt.X("sent_s:Q", title="record sent at (s since the generators started)"),
        y=alt.Y("max_delay_s:Q", title="worst send → on disk (s)"),
        color=alt.Color("broker:N", scale=series_scale(data["broker"].unique()), title="broker"),
        tooltip=["broker", "sent_s", "rows", "max_delay_s", "median_delay_s"],
    ).transform_filter(alt.datum.kind == "delay")
    rules = base.mark_rule(strokeDash=[4, 3]).encode(
        x="t_s:Q", color=alt.Color("broker:N", scale=series_scale(data["broker"].unique())),
        tooltip=["broker", "event", "t_s"]).transform_filter(alt.datum.kind == "event")
    return alt.layer(lines, rules, data=data).properties(width=WIDTH - 80, height=140).facet(
        row=alt.Row("scenario:N", title=None, header=alt.Header(labelAngle=0, labelOrient="top", labelAnchor="start",
                                                                 labelLimit=WIDTH, labelFontWeight="bold")),
        title=_title(title, subtitle),
    ).resolve_scale(y="independent")
