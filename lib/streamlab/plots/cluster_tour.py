"""Charts of the cluster tour (chapter 00): who leads, replication health, throughput and ack latency over time.

Every time chart shares the tour's time axis (seconds since the tour started)
and carries the same overlay (`event_rules`): the outage phases shaded, a
labelled rule at each kill, restart and leader election.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd

from .. import plots
from ..experiments.cluster_tour.milestones import phases

if TYPE_CHECKING:
    from ..experiments.cluster_tour.plan import TourResult


NODE_COLORS = {"node 1": "#0072B2", "node 2": "#E69F00", "node 3": "#009E73", "none": "#D55E00",
               "no answer": "#9aa5b1"}


def _node_label(value: Any) -> str:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return "no answer"
    return "none" if n < 0 else f"node {n}"


def _intervals(frame: pd.DataFrame, end: float, by: str | None = None) -> pd.DataFrame:
    """Each sample lasts until the next sample of the same series (the last until ``end``).

    With ``by``, consecutive samples of equal ``by`` are merged into one
    interval: fewer marks, and no hairline seams between adjacent ones.
    """
    frame = frame.sort_values("t_s").copy()
    frame["t_end"] = frame["t_s"].shift(-1).fillna(end)
    if by is not None and not frame.empty:
        run = (frame[by] != frame[by].shift()).cumsum()
        frame = frame.groupby(run, as_index=False).agg(
            {**{c: "first" for c in frame.columns if c != "t_end"}, "t_end": "last"})
    return frame


def event_rules(result: TourResult, labels: bool = True) -> Any:
    """Shaded outage phases and labelled vertical rules at each failure and restart, to layer on a time chart."""
    short = {"kill": "kill", "stop": "stop", "restart": "restart", "preferred leader election": "elect"}
    wanted = result.events[result.events["event"].isin(list(short))].copy()
    wanted["label"] = [f"{short[e]} {int(n)}" if pd.notna(n) else short[e]
                       for e, n in zip(wanted["event"], wanted["node"])]
    # events within half a second share one rule: "restart 1, 2"
    wanted["slot"] = (wanted["t_s"].diff().fillna(1.0) > 0.5).cumsum()
    merged = wanted.groupby("slot").agg(t_s=("t_s", "first"), event=("event", "first"),
                                        nodes=("node", lambda n: ", ".join(str(int(x)) for x in n if pd.notna(x))))
    merged["label"] = [f"{short[e]} {n}".strip() for e, n in zip(merged["event"], merged["nodes"])]
    shade = alt.Chart(phases(result)).mark_rect(color="#9aa5b1", opacity=0.14).encode(x="start:Q", x2="end:Q")
    rules = alt.Chart(merged).mark_rule(color="#52606d", strokeDash=[4, 3]).encode(x="t_s:Q")
    layers = [shade, rules]
    if labels:
        layers.append(alt.Chart(merged).mark_text(align="left", baseline="bottom", dx=3, dy=-2, fontSize=11,
                                                  color="#52606d").encode(x="t_s:Q", y=alt.value(0), text="label:N"))
    return alt.layer(*layers)


def leadership_chart(result: TourResult, title: str = "Who leads: the quorum and every partition, over time") -> Any:
    """Rows of coloured bars: the controller quorum leader, then each partition's leader per topic."""
    end = result.seconds
    quorum = result.quorum.assign(leader=[_node_label(q) if ok else "no answer"
                                          for q, ok in zip(result.quorum["quorum_leader"], result.quorum["answered"])])
    quorum = _intervals(quorum, end, by="leader").assign(row="quorum leader", group="controller quorum", isr="")
    rows = [quorum[["t_s", "t_end", "row", "group", "leader", "isr"]]]
    for key, label in (("rf3", "RF 3"), ("rf1", "RF 1")):
        name = result.topics[key].name
        parts = result.partitions[result.partitions["topic"] == name]
        frames = []
        for pid, group in parts.groupby("partition"):
            g = _intervals(group.assign(leader=group["leader"].map(_node_label)), end, by="leader")
            g = g.assign(row=f"{label} · p{pid}", group=f"topic {label}")
            frames.append(g[["t_s", "t_end", "row", "group", "leader", "isr"]])
        if frames:
            rows.append(pd.concat(frames))
    data = pd.concat(rows, ignore_index=True)
    order = list(dict.fromkeys(data["row"]))
    domain = [k for k in NODE_COLORS if k in set(data["leader"])]
    color = alt.Color("leader:N", title="leader", scale=alt.Scale(domain=domain,
                                                                  range=[NODE_COLORS[k] for k in domain]))
    bars = alt.Chart(data).mark_rect().encode(
        x=alt.X("t_s:Q", title="seconds since the tour started", scale=alt.Scale(domain=[0, end], nice=False)),
        x2="t_end:Q",
        y=alt.Y("row:N", sort=order, title=None, scale=alt.Scale(paddingInner=0.25)),
        color=color,
        tooltip=["row:N", "leader:N", "isr:N", "t_s:Q"],
    )
    chart = alt.layer(bars, event_rules(result)).properties(
        width=plots.WIDTH, height=16 * len(order),
        title=alt.TitleParams(title, subtitle=plots.machine_caption()))
    return chart


def isr_chart(result: TourResult, title: str = "Replication health over time") -> Any:
    """Under-replicated and offline partitions per topic: the two numbers an operator watches."""
    parts = result.partitions
    labels = {result.topics["rf3"].name: "RF 3", result.topics["rf1"].name: "RF 1"}
    parts = parts[parts["topic"].isin(labels)]
    under = parts.assign(u=(parts["isr_size"] < parts["rf"]) & (parts["leader"] >= 0), o=parts["leader"] < 0)
    per_t = under.groupby(["t_s", "topic"]).agg(under_replicated=("u", "sum"), offline=("o", "sum")).reset_index()
    tidy = per_t.melt(["t_s", "topic"], ["under_replicated", "offline"], var_name="state", value_name="partitions")
    tidy["series"] = tidy["topic"].map(labels) + " · " + tidy["state"].str.replace("_", "-")
    # an unreplicated partition cannot be under-replicated: leave that line out
    tidy = tidy[tidy["series"] != "RF 1 · under-replicated"]
    colors = {"RF 3 · under-replicated": plots.PALETTE[0], "RF 3 · offline": plots.PALETTE[7],
              "RF 1 · offline": plots.PALETTE[5]}
    lines = alt.Chart(tidy, title=alt.TitleParams(title, subtitle=plots.machine_caption())).mark_line(
        interpolate="step-after").encode(
        x=alt.X("t_s:Q", title="seconds since the tour started",
                scale=alt.Scale(domain=[0, result.seconds], nice=False)),
        y=alt.Y("partitions:Q", title="partitions", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("series:N", title=None, sort=list(colors),
                        scale=alt.Scale(domain=list(colors), range=list(colors.values()))),
    )
    return alt.layer(lines, event_rules(result)).properties(width=plots.WIDTH, height=220)


def throughput_chart(result: TourResult, title: str = "Messages per second while brokers fail and return") -> Any:
    """Acknowledged, failed and read messages per second (both readers), one panel per topic."""
    labels = {result.topics["rf3"].name: "topic RF 3 (acks=all, idempotent)", result.topics["rf1"].name: "topic RF 1"}
    styles = {  # outcome: (colour, dash)
        "acknowledged": (plots.PALETTE[0], [1, 0]),
        "read by the group": (plots.PALETTE[2], [1, 0]),
        "read, assigned": (plots.PALETTE[7], [3, 3]),
        "failed": (plots.PALETTE[5], [1, 0]),
    }
    panels = []
    for topic, label in labels.items():
        sub = result.load[result.load["topic"] == topic]
        line = alt.Chart(sub).mark_line(interpolate="step-after", strokeWidth=1.8).encode(
            x=alt.X("t_s:Q", title="seconds since the tour started",
                    scale=alt.Scale(domain=[0, result.seconds], nice=False)),
            y=alt.Y("per_s:Q", title="messages / s"),
            color=alt.Color("outcome:N", title=None, sort=list(styles),
                            scale=alt.Scale(domain=list(styles), range=[c for c, _ in styles.values()])),
            strokeDash=alt.StrokeDash("outcome:N", title=None, sort=list(styles),
                                      scale=alt.Scale(domain=list(styles), range=[d for _, d in styles.values()])),
        )
        panels.append(alt.layer(line, event_rules(result)).properties(width=plots.WIDTH, height=150, title=label))
    return alt.vconcat(*panels).properties(title=alt.TitleParams(title, subtitle=plots.machine_caption()))


def latency_chart(result: TourResult, title: str = "How long a send waited for its acknowledgement") -> Any:
    """Slowest send→ack time per second of sending, replicated topic: the stall a failure costs a producer."""
    topic = result.topics["rf3"].name
    data = result.latency[result.latency["topic"] == topic].melt(["t_s", "topic"], ["p50_s", "max_s"],
                                                                 var_name="statistic", value_name="seconds")
    data["statistic"] = data["statistic"].map({"p50_s": "median", "max_s": "slowest"})
    lines = plots.line_over_time(data, "t_s", "seconds", "statistic", title,
                                 x_title="seconds since the tour started (time of sending)",
                                 y_title="send → acknowledgement (s)", color_title="per second of sending")
    return alt.layer(lines, event_rules(result)).properties(height=220)


def connections_chart(connections: pd.DataFrame, title: str = "Open TCP connections between the processes") -> Any:
    """A grid: who opened connections (rows) to which listener of which process (columns), with counts."""
    data = connections.assign(target=connections["to"] + " · " + connections["listener"])
    order_to = sorted(data["target"].unique(), key=lambda t: (t.startswith("epmd"), t))
    order_from = sorted(data["from"].unique(), key=lambda f: (f == "this notebook", f))
    heading = alt.TitleParams(title, subtitle="opened by (rows) → listener reached (columns)")
    base = alt.Chart(data, title=heading).encode(
        x=alt.X("target:N", sort=order_to, title=None,
                axis=alt.Axis(labelAngle=-40, orient="top", labelLimit=240, labelOverlap=False)),
        y=alt.Y("from:N", sort=order_from, title=None),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("connections:Q", title="connections", scale=alt.Scale(scheme="blues", domainMin=0),
                        legend=None))
    text = base.mark_text(fontSize=13).encode(
        text="connections:Q",
        color=alt.condition(alt.datum.connections > data["connections"].max() / 2, alt.value("white"),
                            alt.value("#1f2933")))
    return alt.layer(cells, text).properties(width=max(300, 46 * len(order_to)), height=34 * len(order_from))
