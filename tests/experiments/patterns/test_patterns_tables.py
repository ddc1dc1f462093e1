"""Chapter 03's pure helpers (no broker): table lookups, peaks and the extrapolation, and the charts."""

from __future__ import annotations

import math
import re
import shutil

import pandas as pd
import pytest

from plugins.capabilities import require
from streamlab.experiments.patterns import issues, rewrite, scaling
from streamlab.plots import patterns as pp


def _issues_table() -> pd.DataFrame:
    rows = [("unbounded queue", "RabbitMQ", "before: unbounded", "in_queue", 1000),
            ("unbounded queue", "RabbitMQ", "after: x-max-length 200, drop-head", "in_queue", 200),
            ("unbounded queue", "RabbitMQ", "after: x-max-length 200, reject-publish", "nacked", 800)]
    return pd.DataFrame(rows, columns=issues.COLUMNS)


def test_value_picks_by_variant_prefix_and_names_what_is_missing():
    table = _issues_table()
    assert issues.value(table, "RabbitMQ", "after: x-max-length 200, reject", "nacked") == 800
    assert issues.value(table, "RabbitMQ", "before", "in_queue") == 1000
    with pytest.raises(KeyError, match="in_queue"):
        issues.value(table, "Kafka", "before", "in_queue")
    wide = issues.verdicts(table)
    assert wide.loc[("unbounded queue", "RabbitMQ", "before: unbounded"), "in_queue"] == 1000


def test_verdicts_per_issue_keep_only_each_issues_own_metrics():
    table = pd.concat([_issues_table(), pd.DataFrame(
        [("dead member", "Kafka", "before: session 45 s", "partitions_orphaned_s", 45.2)], columns=issues.COLUMNS)])
    per_issue = issues.verdicts_per_issue(table)
    assert list(per_issue) == ["unbounded queue", "dead member"]
    assert list(per_issue["dead member"].columns) == ["partitions_orphaned_s"]
    assert set(per_issue["unbounded queue"].columns) == {"in_queue", "nacked"}
    assert per_issue["unbounded queue"].loc[("RabbitMQ", "before: unbounded"), "in_queue"] == 1000


def test_peaks_and_extrapolation():
    table = pd.DataFrame({"backend": ["Kafka"] * 3 + ["RabbitMQ"] * 3, "consumers": [1, 2, 4] * 2,
                          "msgs_per_s": [100.0, 180.0, 150.0, 80.0, 90.0, 95.0]})
    table["speedup"] = table["msgs_per_s"] / table["backend"].map({"Kafka": 100.0, "RabbitMQ": 80.0})
    peaks = scaling.peaks(table)
    assert peaks.loc["Kafka", "best_consumers"] == 2 and peaks.loc["Kafka", "best_speedup"] == pytest.approx(1.8)
    assert peaks.loc["RabbitMQ", "best_consumers"] == 4
    future = scaling.extrapolate(peaks, machines=20)
    assert future.loc[20000, "vibration windows/s"] == 20000
    assert future.loc[20000, "Kafka: consumers for the windows"] == 200       # 20000 / 100, rounded up
    assert future.loc[200, "RabbitMQ: consumers for the windows"] == 3        # 200 / 80 → 3


def test_side_by_side_keeps_the_order_of_the_figures():
    a = pd.DataFrame({"backend": "Kafka", "group": ["rates", "latency"], "metric": ["sent", "p50"],
                      "value": [10.0, 5.0]})
    b = a.assign(backend="RabbitMQ", value=[10.0, 7.0])
    wide = rewrite.side_by_side(a, b)
    assert list(wide.index.get_level_values("metric")) == ["sent", "p50"]
    assert wide.loc[("latency", "p50"), "RabbitMQ"] == 7.0


def test_topology_graphs_show_the_unbound_dead_letter_exchange():
    topology = {
        "exchanges": pd.DataFrame([{"exchange": "telemetry", "type": "topic", "durable": True},
                                   {"exchange": "dead-letter", "type": "topic", "durable": True}]),
        "queues": pd.DataFrame([{"queue": "health-processor.telemetry", "type": "quorum",
                                 "dead-letter exchange": "dead-letter", "delivery limit": 10,
                                 "message TTL (ms)": 86400000, "replicas": 3}]),
        "bindings": pd.DataFrame([{"exchange": "telemetry", "destination": "health-processor.telemetry",
                                   "destination type": "queue", "routing key": "#"}]),
    }
    source = pp.rabbit_topology_graph(topology).source
    assert source.count("nothing bound") == 1          # dead-letter only: telemetry has its binding
    assert "binding '#'" in source


def test_topology_graph_shows_the_processors_shards_behind_its_consistent_hash_exchange():
    exchanges = [{"exchange": name, "type": kind, "durable": True} for name, kind in
                 (("telemetry", "topic"), ("vibration", "topic"), ("health-processor.by-key", "x-consistent-hash"))]
    shard = {"type": "quorum", "dead-letter exchange": "", "delivery limit": 10, "message TTL (ms)": "",
             "replicas": 3, "single active consumer": True}
    bindings = [{"exchange": source, "destination": "health-processor.by-key", "destination type": "exchange",
                 "routing key": "#"} for source in ("telemetry", "vibration")]
    bindings += [{"exchange": "health-processor.by-key", "destination": f"health-processor.shard-{i}",
                  "destination type": "queue", "routing key": "1"} for i in range(2)]
    source = pp.rabbit_topology_graph({
        "exchanges": pd.DataFrame(exchanges),
        "queues": pd.DataFrame([{"queue": f"health-processor.shard-{i}", **shard} for i in range(2)]),
        "bindings": pd.DataFrame(bindings)}).source
    assert "nothing bound" not in source                # the inputs are bound, to an exchange
    assert source.count('x_telemetry -> "x_health-processor.by-key"') == 1
    assert source.count("weight 1") == 2 and source.count("single active consumer") == 2
    kafka = {"topics": pd.DataFrame([{"topic": "telemetry", "partitions": 6, "replication": 3,
                                      "min ISR size seen": 3, "leaders on brokers": "1, 2, 3", "messages": 10,
                                      "min.insync.replicas": "2", "retention.ms": "86400000",
                                      "cleanup.policy": "delete"}]),
             "reads": pd.DataFrame([{"group": "health-processor", "topic": "telemetry"}])}
    assert "6 partitions · RF 3" in pp.kafka_topology_graph(kafka).source


def _application_topology() -> dict[str, pd.DataFrame]:
    """The exchanges, queues and bindings the application declares on one RabbitMQ node (6 processor shards)."""
    kinds = {"health-processor.by-key": "x-consistent-hash"}
    names = ("alerts", "dead-letter", "health-processor.by-key", "machine-health", "machine-health-latest",
             "telemetry", "vibration")
    exchanges = pd.DataFrame([{"exchange": n, "type": kinds.get(n, "topic"), "durable": True} for n in names])
    queue = {"type": "quorum", "dead-letter exchange": "dead-letter", "delivery limit": 20,
             "message TTL (ms)": 604_800_000, "replicas": 1, "single active consumer": False}
    held = {**queue, "dead-letter exchange": ""}
    queues = [{"queue": "alert-csv-sink.alerts", **queue}, {"queue": "dead-letter.held", **held},
              {"queue": "health-parquet-sink.machine-health", **queue}, {"queue": "machine-health-latest.held", **held}]
    queues += [{"queue": f"health-processor.shard-{i}", **queue, "single active consumer": True} for i in range(6)]
    direct = {"alerts": "alert-csv-sink.alerts", "dead-letter": "dead-letter.held",
              "machine-health": "health-parquet-sink.machine-health",
              "machine-health-latest": "machine-health-latest.held"}
    bindings = [{"exchange": x, "destination": q, "destination type": "queue", "routing key": "#"}
                for x, q in direct.items()]
    bindings += [{"exchange": x, "destination": "health-processor.by-key", "destination type": "exchange",
                  "routing key": "#"} for x in ("telemetry", "vibration")]
    bindings += [{"exchange": "health-processor.by-key", "destination": f"health-processor.shard-{i}",
                  "destination type": "queue", "routing key": "1"} for i in range(6)]
    return {"exchanges": exchanges, "queues": pd.DataFrame(queues), "bindings": pd.DataFrame(bindings)}


def test_the_rabbitmq_topology_keeps_legible_text_at_the_columns_width():
    """Drawn at the book's column (≈ 760 px), the application's topology shrinks to fit; its smallest text must
    stay at 8 px or more, the book's HTML test's minimum (at 9 pt it was 6.8 px)."""
    require(shutil.which("dot") is not None, "needs graphviz's dot (make setup installs graphviz)")
    svg = pp.rabbit_topology_graph(_application_topology()).pipe(format="svg").decode()
    width_px = float(re.search(r'<svg width="([\d.]+)pt"', svg).group(1)) * 4 / 3
    smallest_px = min(float(size) for size in re.findall(r'font-size="([\d.]+)"', svg)) * 4 / 3
    assert smallest_px * min(1.0, 760 / width_px) >= 8.0


def test_before_after_chart_colours_by_when():
    chart = pp.before_after(_issues_table(), "in_queue", "t", "messages")
    spec = chart.to_dict()
    assert spec["layer"][0]["encoding"]["color"]["field"] == "when"


def test_scaling_verdict_counts_only_real_gains():
    peaks = pd.DataFrame({"best_consumers": [2, 4], "best_speedup": [1.6, 1.05], "one_msgs_per_s": [1.0, 1.0]},
                         index=["Kafka", "RabbitMQ"])
    assert scaling.gained(peaks) == {"Kafka": True, "RabbitMQ": False}
    assert scaling.verdict(peaks) == "Kafka"
    assert scaling.verdict(peaks.assign(best_speedup=1.0)) == "neither"


def _runs(rates: dict[tuple[str, int], list[float]], seconds: float = 3.0, timed: int = 6000) -> pd.DataFrame:
    rows = [{"backend": backend, "guarantee": "g", "consumers": n, "repetition": i, "messages": timed,
             "processed": timed, "timed": timed, "seconds": seconds, "msgs_per_s": rate}
            for (backend, n), values in rates.items() for i, rate in enumerate(values)]
    return pd.DataFrame(rows)


def test_scaling_runs_too_short_or_too_few_are_no_conclusion():
    # chapter 03's quick build: 400 messages, runs of 0.08-0.19 s, one each
    short = _runs({("Kafka", 1): [2000.0], ("Kafka", 4): [4400.0]}, seconds=0.19, timed=400)
    assert scaling.verdict(scaling.peaks(short), table=short) == (
        "no conclusion: drains under 2 s, drains of under 1,000 windows, fewer than 3 runs per configuration")
    once = _runs({("Kafka", 1): [2000.0], ("Kafka", 2): [3600.0]})
    assert scaling.verdict(scaling.peaks(once), table=once) == "no conclusion: fewer than 3 runs per configuration"
    thrice = _runs({("Kafka", 1): [2000.0] * 3, ("Kafka", 2): [3600.0] * 3}, seconds=float("nan"))
    assert scaling.broken_rules(thrice) == ["drains under 2 s"], "a drain without a measured duration is too short"


def test_a_best_within_one_consumer_s_spread_is_no_gain():
    runs = _runs({("Kafka", 1): [2000.0, 2600.0, 1400.0], ("Kafka", 2): [2500.0, 2300.0, 2700.0],
                  ("RabbitMQ", 1): [1000.0, 1010.0, 990.0], ("RabbitMQ", 4): [1900.0, 2000.0, 2100.0]})
    peaks = scaling.peaks(runs)
    assert peaks.loc["Kafka", "best_speedup"] == pytest.approx(1.25)
    assert scaling.gained(peaks, runs) == {"Kafka": False, "RabbitMQ": True}
    assert scaling.verdict(peaks, table=runs) == "RabbitMQ"
    summary = scaling.summary(runs).set_index(["backend", "consumers"])
    assert summary.loc[("RabbitMQ", 4), "runs"] == 3 and summary.loc[("RabbitMQ", 4), "msgs_per_s_sd"] == 100.0


def test_each_row_states_its_guarantee():
    assert scaling.kafka_guarantee(3) == "Kafka RF 3, acks=all, min ISR 2"
    assert scaling.kafka_guarantee(1) == "Kafka RF 1, acks=all"
    assert scaling.rabbit_guarantee(3) == "RabbitMQ quorum queue on 3 nodes, publisher confirms"


def test_nodes_rates_compare_one_node_with_three_at_the_most_consumers():
    rows = [{"backend": backend, "nodes": nodes, "consumers": n, "publish_msgs_per_s": put, "msgs_per_s": drain}
            for backend, nodes, n, put, drain in (("Kafka", 1, 1, 50.0, 50.0), ("Kafka", 1, 2, 900.0, 400.0),
                                                  ("Kafka", 3, 2, 600.0, 300.0), ("RabbitMQ", 1, 2, 800.0, 200.0))]
    table = pd.DataFrame(rows)
    rates = scaling.nodes_rates(table)
    assert rates.loc["Kafka", ["consumers", "put_1", "put_3", "drain_1", "drain_3"]].tolist() == [
        2, 900.0, 600.0, 400.0, 300.0]
    assert rates.loc["Kafka", "put_x"] == pytest.approx(2 / 3) and rates.loc["Kafka", "drain_x"] == 0.75
    assert rates.loc["RabbitMQ", "put_1"] == 800.0 and math.isnan(rates.loc["RabbitMQ", "put_3"])
    assert scaling.nodes_compared(table) == ["Kafka"]


def test_rewrite_names_the_runs_that_kept_the_promises():
    def run(backend, dups, exits=5, found=6):
        return pd.DataFrame({"backend": backend, "group": "g", "metric": [
            "machines with every seq once", "machines", "duplicate rows", "missing seqs", "services exiting 0",
            "services", "faulty machines found (TP)", "healthy machines alerted (FP)"],
            "value": [20, 20, dups, 0, exits, 5, found, 0]})
    both = rewrite.side_by_side(run("Kafka", 0), run("RabbitMQ", 0))
    assert rewrite.kept_promises(both) == ["Kafka", "RabbitMQ"] and rewrite.detections_agree(both)
    assert rewrite.kept_promises(rewrite.side_by_side(run("Kafka", 0), run("RabbitMQ", 3))) == ["Kafka"]
    unclean = rewrite.side_by_side(run("Kafka", 0, exits=4), run("RabbitMQ", 0, found=5))
    assert rewrite.kept_promises(unclean) == ["RabbitMQ"] and not rewrite.detections_agree(unclean)


def test_readable_side_by_side_shows_counts_as_whole_numbers():
    from streamlab.experiments.patterns.rewrite import readable

    table = pd.DataFrame({"Kafka": [2020.0, 12.345], "RabbitMQ": [2019.0, 3.0]},
                         index=pd.MultiIndex.from_tuples([("a", "telemetry sent"), ("b", "p50 (ms)")]))
    shown = readable(table)
    assert shown.loc[("a", "telemetry sent")].tolist() == [2020, 2019]
    assert all(type(v) is int for v in shown.loc[("a", "telemetry sent")])
    assert shown.loc[("b", "p50 (ms)")].tolist() == [12.3, 3.0]
