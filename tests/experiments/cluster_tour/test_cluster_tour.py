"""The cluster tour of chapter 00 against a real 3-broker KRaft cluster.

The tour kills the quorum leader under load, probes the write rules, kills a
second broker (losing the quorum), restarts both and waits for recovery. The
assertions are the chapter's claims: nothing acknowledged on the RF 3 topic is
lost or stored twice, the min.insync.replicas probes fail and succeed as the
rule says (with the broker's own error), the RF 1 topic loses writes, the
cluster is whole again and the tour's topics are gone. The smaller tests check
the "how do the processes talk" helpers on the same cluster.
"""

from __future__ import annotations

import math
import os

import pandas as pd
import pytest

from streamlab.experiments.cluster_tour import clock as timing
from streamlab.experiments.cluster_tour import endpoints, failover, listeners, load, probes, quorum
from streamlab.experiments.cluster_tour.milestones import milestones
from streamlab.plots import cluster_tour as tour_charts
from streamlab.stack.explorer import describe_topics
from streamlab.transport import get_transport

pytestmark = [pytest.mark.cluster, pytest.mark.kafka]


def _probe(probes: pd.DataFrame, situation: str, min_insync: int, acks: str) -> pd.Series:
    rows = probes[(probes["situation"] == situation) & (probes["min.insync.replicas"] == min_insync)
                  & (probes["acks"] == acks)]
    assert len(rows) == 1, f"no single probe for {situation}, min.insync={min_insync}, acks={acks}"
    return rows.iloc[0]


def test_failover_tour_loses_nothing_and_restores_the_cluster(kafka_cluster, tmp_path):
    kafka = kafka_cluster.part("kafka")
    bootstrap = kafka_cluster.endpoints.kafka_bootstrap
    transport = get_transport("kafka", "confluent", kafka_cluster.endpoints)
    plan = failover.TourPlan(partitions=3, rate_per_s=50, baseline_s=2.0, down_s=4.0, after_s=1.0,
                         two_down=True, probe_timeout_s=2.0, sample_every_s=0.5)

    result = failover.failover_tour(kafka, transport, bootstrap, plan)

    assert kafka.is_ready(), "the tour must leave every broker running and unfenced"
    names = {spec.name for spec in result.topics.values()}
    assert not names & set(describe_topics(bootstrap, offsets=False)["topic"]), "the tour's topics were not deleted"

    summary = result.summary.set_index(result.summary["topic"].map({s.name: k for k, s in result.topics.items()}))
    rf3, rf1 = summary.loc["rf3"], summary.loc["rf1"]
    print(f"\ntour: {result.seconds:.0f} s, victim {result.victim}, second {result.second}\n"
          f"{milestones(result).to_string()}\n{result.summary.to_string()}\n{result.probes.to_string()}")
    assert rf3["sent"] > 200
    assert rf3["acknowledged"] == rf3["sent"] and rf3["failed"] == 0, "the RF 3 producer retries until delivered"
    assert rf3["acknowledged_lost"] == 0, "an acknowledged message is missing from the log"
    assert rf3["stored_twice"] == 0, "the idempotent producer stored a message twice"
    assert rf3["group_read"] == rf3["acknowledged"], "the consumer group did not read everything after recovery"
    assert rf1["failed"] > 0, "the RF 1 topic should lose writes while its brokers are down"
    assert rf1["acknowledged_lost"] == 0

    probes = result.probes
    assert _probe(probes, "3 of 3 brokers up", 2, "all")["acknowledged"] == plan.probe_messages
    assert _probe(probes, "2 of 3 brokers up", 2, "all")["acknowledged"] == plan.probe_messages
    refused = _probe(probes, "2 of 3 brokers up", 3, "all")
    assert refused["acknowledged"] == 0 and refused["error"] == "NOT_ENOUGH_REPLICAS"
    assert _probe(probes, "2 of 3 brokers up", 3, "1")["acknowledged"] == plan.probe_messages
    assert _probe(probes, "1 of 3 brokers up", 2, "all")["acknowledged"] == 0
    lonely = _probe(probes, "1 of 3 brokers up", 2, "1")
    assert lonely["partitions acknowledged"] == lonely["partitions led by a live broker"]

    marks = milestones(result).set_index("milestone")["seconds"]
    for name in (f"broker {result.victim} left the list of live brokers",
                 f"ISR shrank: broker {result.victim} out of every ISR",
                 "ISR full again (3 of 3 everywhere)"):
        assert not math.isnan(marks[name]) and marks[name] > 0, f"milestone never reached: {name}"
    assert result.leaders_per_broker.set_index("moment").loc["rebalanced", "no leader"] == 0

    folder_files = failover.save_results(result, tmp_path)
    assert all(path.stat().st_size > 0 for path in folder_files)
    for chart in (tour_charts.leadership_chart, tour_charts.isr_chart, tour_charts.throughput_chart,
                  tour_charts.latency_chart):
        assert chart(result).to_dict()  # builds a valid Vega-Lite spec from the real frames


def test_listeners_ports_and_connections_of_the_running_cluster(kafka_cluster):
    kafka = kafka_cluster.part("kafka")
    bootstrap = kafka_cluster.endpoints.kafka_bootstrap

    table = listeners.local_listener_table(kafka)
    assert set(table["listener"]) == {"PLAINTEXT", "CONTROLLER"} and len(table) == 6
    advertised = listeners.advertised_view(bootstrap.split(",")[0])
    assert sorted(advertised["advertised address"]) == sorted(bootstrap.split(","))

    nodes = endpoints.stack_endpoints(kafka_cluster)
    checks = endpoints.port_checks(nodes)
    assert (checks["accepts"] == "yes").all()
    assert set(checks["binds"]) == {"127.0.0.1"}, "the Kafka listeners must bind loopback only"

    connections = endpoints.live_connections(nodes, clients={"this test": os.getpid()})
    voters = quorum.quorum_table(bootstrap)
    leader = voters.attrs["leader"]
    to_controller = connections[(connections["to"] == f"kafka node {leader}")
                                & (connections["listener"] == "CONTROLLER")]
    assert len(set(to_controller["from"])) == 3, "every node should connect to the active controller"
    assert set(voters["role"]) == {"leader", "follower"} and len(voters) == 3


def test_load_timeline_fills_empty_seconds_with_zeros():
    clock = timing.Clock()
    background = load.BackgroundLoad(transport=None, topics={"t": {}}, rate_per_s=1, clock=clock)
    background.deliveries = [("t", 0, 0.1, 0.2, None),
                             ("t", 1, 0.1, 3.5, "KafkaError{code=_MSG_TIMED_OUT,val=-192}")]
    background.consumed = [("group", "t", 0, 0, 0, 0.3), ("assigned", "t", 0, 0, 0, 0.4)]
    frame = load.load_timeline(background, end_s=4.0)
    assert len(frame) == 5 * 4  # seconds 0..4 × four outcomes
    counts = frame.set_index(["t_s", "outcome"])["messages"]
    assert counts[(0.0, "acknowledged")] == 1 and counts[(3.0, "failed")] == 1
    assert counts[(1.0, "acknowledged")] == 0 and counts[(0.0, "read by the group")] == 1
    assert probes.error_name("KafkaError{code=NOT_ENOUGH_REPLICAS,val=19,str=\"x\"}") == "NOT_ENOUGH_REPLICAS"
    assert probes.error_text('KafkaError{code=X,val=1,str="Broker: Not enough in-sync replicas"}') \
        == "Broker: Not enough in-sync replicas"
