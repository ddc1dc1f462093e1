"""Charts and diagrams of chapter 03: the topology each back end declared, known issues before/after.

The topology diagrams are drawn from what the brokers report after a run
(`experiments.patterns.rewrite.kafka_topology` / `rabbit_topology`), not by
hand, so they show what the code really declared.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from . import BAR_WIDTH, PALETTE, SERIES_COLORS, _title

if TYPE_CHECKING:
    import graphviz

FONT = "DejaVu Sans"   # the house charts' font (installed with graphviz; Liberation Sans is not here)
#: Points of the graphs' second lines and edge labels: drawn at the column's width (≈ 760 px), a topology of
#: about 1,000 pt shrinks to 0.6, and 10 pt stays 8 px or more on the page (the book's HTML test's minimum).
SMALL_PT = "10"
_SOFT = "#52606d"
_DEAD = "#D55E00"


def _label(title: str, *lines: str, color: str = "#1f2933") -> str:
    parts = [f'<B><FONT COLOR="{color}">{html.escape(title)}</FONT></B>']
    parts += [f'<FONT POINT-SIZE="{SMALL_PT}" COLOR="{_SOFT}">{html.escape(str(line))}</FONT>'
              for line in lines if line]
    return "<" + "<BR/>".join(parts) + ">"


def _graph(name: str) -> graphviz.Digraph:
    import graphviz

    graph = graphviz.Digraph(name, format="svg")
    graph.attr(rankdir="LR", fontname=FONT, fontsize="11", nodesep="0.2", ranksep="0.45", bgcolor="white", pad="0.2")
    graph.attr("node", fontname=FONT, fontsize="11", color=_SOFT, penwidth="1.2")
    graph.attr("edge", fontname=FONT, fontsize=SMALL_PT, color=_SOFT, fontcolor=_SOFT, arrowsize="0.7")
    return graph


def kafka_topology_graph(topology: dict[str, pd.DataFrame]) -> graphviz.Digraph:
    """Topics (partitions, RF, retention/compaction) → the consumer groups that read them."""
    graph = _graph("kafka_topology")
    color = SERIES_COLORS["kafka"]
    for row in topology["topics"].itertuples(index=False):
        dead = row.topic == "dead-letter"
        graph.node(f"t_{row.topic}", _label(row.topic, f"{row.partitions} partitions · RF {row.replication}",
                                            f"cleanup: {row[8]} · min ISR {row[6]}",
                                            color=_DEAD if dead else color),
                   shape="cylinder", style="filled", fillcolor="#fbeee6" if dead else "#eef5fb",
                   color=_DEAD if dead else color)
    for group in topology["reads"]["group"].unique():
        graph.node(f"g_{group}", _label(group, "consumer group: offsets per partition"), shape="box",
                   style="rounded,filled", fillcolor="#fdf1dc")
    for row in topology["reads"].itertuples(index=False):
        graph.edge(f"t_{row.topic}", f"g_{row.group}", label="poll · commit offset")
    return graph


def rabbit_topology_graph(topology: dict[str, pd.DataFrame]) -> graphviz.Digraph:
    """Exchanges → bindings (routing keys) → exchanges or quorum queues, and each queue's dead-letter exchange.

    The processor's inputs are bound to its consistent-hash exchange, whose bindings to the shard queues carry
    weights, not patterns."""
    graph = _graph("rabbit_topology")
    color = SERIES_COLORS["rabbitmq"]
    bound = set(topology["bindings"]["exchange"]) if len(topology["bindings"]) else set()
    hashing = set(topology["exchanges"].loc[topology["exchanges"]["type"] == "x-consistent-hash", "exchange"]) \
        if len(topology["exchanges"]) else set()   # a binding key there is the queue's weight, not a pattern
    for row in topology["exchanges"].itertuples(index=False):
        dead = row.exchange == "dead-letter"
        graph.node(f"x_{row.exchange}", _label(row.exchange, f"{row.type} exchange",
                                               "" if row.exchange in bound else "nothing bound",
                                               color=_DEAD if dead else color),
                   shape="hexagon", style="filled", fillcolor="#fbeee6" if dead else "#fdf1dc",
                   color=_DEAD if dead else color)
    for q in topology["queues"].to_dict("records"):
        single = "single active consumer" if q.get("single active consumer") else ""
        ttl, limit, dlx = q["message TTL (ms)"], q["delivery limit"], q["dead-letter exchange"]
        graph.node(
            f"q_{q['queue']}",
            _label(
                q["queue"],
                f"{q['type']} queue · group size {q['replicas']}",
                single,
                f"delivery limit {limit} · TTL {int(ttl) // 86_400_000} d" if ttl != "" else f"delivery limit {limit}",
            ),
            shape="box",
            style="filled",
            fillcolor="#eef5fb",
        )
        if dlx:
            graph.edge(f"q_{q['queue']}", f"x_{dlx}", label="dead-letter", style="dashed", color=_DEAD,
                       fontcolor=_DEAD, constraint="false")
    for row in topology["bindings"].to_dict("records"):
        target = "x_" if row["destination type"] == "exchange" else "q_"
        key = row["routing key"]
        label = f"weight {key}" if target == "q_" and row["exchange"] in hashing else f"binding '{key}'"
        graph.edge(f"x_{row['exchange']}", target + row["destination"], label=label)
    return graph


def before_after(table: pd.DataFrame, metric: str, title: str, value_title: str, *,
                 label_column: str = "variant", subtitle: str | None = None, fmt: str = ",.0f") -> alt.LayerChart:
    """One bar per (back end, variant) for one metric of a tidy issues/compare table."""
    data = table[table["metric"] == metric].copy()
    data["case"] = data["backend"] + " · " + data[label_column]
    data["when"] = data["variant"].str.extract(r"^(before|after)", expand=False).fillna("as is")
    colors = alt.Scale(domain=["before", "after", "as is"], range=[PALETTE[5], PALETTE[2], PALETTE[0]])
    base = alt.Chart(data, title=_title(title, subtitle)).encode(
        y=alt.Y("case:N", title=None, sort=list(data["case"]), axis=alt.Axis(labelLimit=360)),
        x=alt.X("value:Q", title=value_title),
    )
    bars = base.mark_bar().encode(color=alt.Color("when:N", title=None, scale=colors))
    text = base.mark_text(align="left", dx=4, color=_SOFT).encode(text=alt.Text("value:Q", format=fmt))
    return alt.layer(bars, text).properties(width=BAR_WIDTH - 120)


def scaling_chart(table: pd.DataFrame, subtitle: str | None = None) -> alt.Chart:
    """Messages per second against the number of consumers, one line per back end."""
    names = table["backend"].unique()
    scale = alt.Scale(domain=list(names), range=[SERIES_COLORS.get(n.lower(), PALETTE[3]) for n in names])
    return alt.Chart(table, title=_title("Throughput with N consumers, processor's work per message",
                                         subtitle)).mark_line(point=True).encode(
        x=alt.X("consumers:Q", title="consumers (processes)", scale=alt.Scale(type="log", base=2),
                axis=alt.Axis(values=sorted(int(n) for n in table["consumers"].unique()), format="d")),
        y=alt.Y("msgs_per_s:Q", title="messages per second"),
        color=alt.Color("backend:N", title="back end", scale=scale),
    ).properties(width=BAR_WIDTH, height=220)


def share_spread_chart(table: pd.DataFrame) -> alt.LayerChart:
    """Records per second against consumers on one topic/queue, one line per back end, and the ceiling
    (every consumer busy all the time) dashed: how far each gets past the partition count."""
    names = list(table["backend"].unique())
    scale = alt.Scale(domain=names, range=PALETTE[:len(names)])
    partitions, delay = int(table["partitions"].iloc[0]), float(table["delay_ms"].iloc[0])
    x = alt.X("consumers:Q", title="consumers", scale=alt.Scale(type="log", base=2),
              axis=alt.Axis(values=sorted(int(n) for n in table["consumers"].unique()), format="d"))
    title = _title(f"Records/s with N consumers, {partitions} partitions, {delay:g} ms per record",
                   "dashed: every consumer busy all the time")
    lines = alt.Chart(table, title=title).mark_line(point=True).encode(
        x=x, y=alt.Y("msgs_per_s:Q", title="records per second"),
        color=alt.Color("backend:N", title="back end", scale=scale))
    ceiling = alt.Chart(table.drop_duplicates("consumers")).mark_line(strokeDash=[4, 4], color=_SOFT).encode(
        x=x, y="ceiling_msgs_per_s:Q")
    return alt.layer(ceiling, lines).properties(width=BAR_WIDTH, height=220)


def k8s_graph(inventory: pd.DataFrame) -> graphviz.Digraph:
    """What runs where on Kubernetes, read from deploy/k8s (`experiments.patterns.k8s.inventory`): the operators'
    clusters, the app's workloads per back end with replicas and requests, what KEDA scales, what a PDB keeps."""
    graph = _graph("k8s")
    graph.attr(rankdir="LR", compound="true")
    rows = inventory.to_dict("records")
    kinds = {r["name"]: r for r in rows if r["kind"] in ("Deployment", "StatefulSet")}
    protected = {r["targets"] for r in rows if r["kind"] == "PodDisruptionBudget"}
    scaled = {r["targets"]: r["replicas"] for r in rows if r["kind"] == "ScaledObject"}
    topics = [r["name"] for r in rows if r["kind"] == "KafkaTopic"]
    clusters = {"kafka": ("Kafka (Strimzi, KRaft)", SERIES_COLORS["kafka"]),
                "rabbitmq": ("RabbitMQ (cluster operator)", SERIES_COLORS["rabbitmq"])}
    for r in rows:
        if r["kind"] == "KafkaNodePool":
            with graph.subgraph(name="cluster_kafka") as sub:
                sub.attr(label=clusters["kafka"][0], color=clusters["kafka"][1], style="rounded")
                sub.node("kafka", _label(f"KafkaNodePool {r['name']}", f"{r['replicas']} pods · controller + broker",
                                         f"requests {r['cpu request']} CPU · {r['memory request']} each",
                                         color=clusters["kafka"][1]), shape="box3d")
                sub.node("topics", _label(f"{len(topics)} KafkaTopics", ", ".join(topics)), shape="cylinder")
        if r["kind"] == "RabbitmqCluster":
            with graph.subgraph(name="cluster_rabbitmq") as sub:
                sub.attr(label=clusters["rabbitmq"][0], color=clusters["rabbitmq"][1], style="rounded")
                sub.node("rabbitmq", _label(f"RabbitmqCluster {r['name']}", f"{r['replicas']} pods · quorum queues",
                                            f"requests {r['cpu request']} CPU · {r['memory request']} each",
                                            color=clusters["rabbitmq"][1]), shape="box3d")
    for broker, (title, color) in clusters.items():
        with graph.subgraph(name=f"cluster_app_{broker}") as sub:
            sub.attr(label=f"the app on {title.split(' ')[0]}", color=_SOFT, style="rounded,dashed")
            for name, r in kinds.items():
                if r["broker"] != broker:
                    continue
                replicas = f"KEDA: {scaled[name]} replicas" if name in scaled else f"{r['replicas']} replica"
                sub.node(name, _label(name, f"{r['kind']} · {replicas}",
                                      f"requests {r['cpu request']} CPU · {r['memory request']}",
                                      "PodDisruptionBudget" if name in protected else ""),
                         shape="box", style="rounded,filled", fillcolor="#fdf1dc" if name in scaled else "#eef5fb")
                graph.edge(name, broker, color=color)
    for name in scaled:
        graph.node(f"keda_{name}", _label("KEDA ScaledObject", "lag" if "rabbitmq" not in name else "queue depth"),
                   shape="note", color=_DEAD)
        graph.edge(f"keda_{name}", name, label="scales", style="dashed", color=_DEAD, fontcolor=_DEAD)
    return graph
