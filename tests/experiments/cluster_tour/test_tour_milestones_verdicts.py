"""What chapter 00 reads from a tour's frames (milestones, gaps, phases) and the facts it glues."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from streamlab.experiments.cluster_tour import milestones, verdicts
from streamlab.experiments.cluster_tour.listeners import compose_listener_table
from streamlab.experiments.cluster_tour.probes import error_name, error_text

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_tour import make_result


def test_milestones_are_read_from_the_samples():
    result = make_result()
    marks = milestones.milestones(result)
    assert milestones.seconds_of(marks, "broker 1 left") == pytest.approx(1.0)     # not live from t=3 → at 4 s
    assert milestones.seconds_of(marks, "a new controller quorum leader") == pytest.approx(1.0)
    assert milestones.seconds_of(marks, "broker 1 listed as live again") == pytest.approx(0.8)  # 9.0 - 8.2
    assert math.isnan(milestones.seconds_of(marks, "no such milestone"))


def test_longest_gap_and_phases():
    result = make_result()
    gap, start = milestones.longest_gap(result, "acknowledged")
    assert gap == pytest.approx(3.49) and start == pytest.approx(2.51)
    phases = milestones.phases(result)
    assert list(phases["phase"]) == ["broker 1 down", "no controller quorum"]
    assert phases.iloc[0]["start"] == 3.0


def test_baseline_ack_and_compare_tours():
    result = make_result()
    assert milestones.baseline_ack_ms(result) == pytest.approx(10.0)
    compared = milestones.compare_tours(result, make_result())
    assert list(compared.columns) == ["kill (crash)", "stop (controlled shutdown)"]
    assert "the broker left the list of live brokers" in compared.index
    assert not compared.index.str.startswith("quorum answers").any()


def _probes(rows):
    return pd.DataFrame(rows, columns=["situation", "min.insync.replicas", "acks", "sent", "acknowledged", "error",
                                       "error_text", "partitions acknowledged", "partitions led by a live broker"])


def test_probe_outcome_compares_with_the_rule():
    probes = _probes(
        [
            (
                "2 of 3 brokers up",
                3,
                "all",
                12,
                0,
                "NOT_ENOUGH_REPLICAS",
                "Broker: Not enough in-sync replicas",
                "",
                "0 1 2",
            ),
            ("2 of 3 brokers up", 2, "all", 12, 5, "", "", "0 1", "0 1 2"),
            ("1 of 3 brokers up", 2, "1", 12, 4, "_MSG_TIMED_OUT", "Local: Message timed out", "2", "2"),
        ]
    )
    assert verdicts.probe_label(probes, "2 of 3 brokers up", 3, "all") == "0/12 NOT_ENOUGH_REPLICAS"
    assert verdicts.probe_label(probes, "2 of 3 brokers up", 2, "all") == "5/12"
    assert verdicts.probe_label(probes, "3 of 3 brokers up", 2, "all") == "not probed"
    assert verdicts.as_predicted(probes, "2 of 3 brokers up", 3, "all") is True
    assert verdicts.as_predicted(probes, "2 of 3 brokers up", 2, "all") is False  # the rule says all acknowledged
    assert verdicts.as_predicted(probes, "1 of 3 brokers up", 2, "1") is True  # exactly the live leader's partition
    assert verdicts.as_predicted(probes, "3 of 3 brokers up", 2, "all") is None
    assert verdicts.off_rule(probes) == ["2 of 3 brokers up, min.insync.replicas=2, acks=all"]
    assert verdicts.not_enough_replicas(probes) == "Broker: Not enough in-sync replicas"
    assert verdicts.not_enough_replicas(probes.iloc[1:2]) is None


def test_live_probe_off_rule_when_a_dead_leaders_partition_was_acknowledged():
    probes = _probes([("1 of 3 brokers up", 2, "1", 12, 8, "", "", "1 2", "2")])
    assert verdicts.as_predicted(probes, "1 of 3 brokers up", 2, "1") is False


def test_coordinator_errors_and_controlled_stop():
    assert verdicts.coordinator_taken_down(None, [1]) is None
    assert verdicts.coordinator_taken_down(1, [1, 2]) is True
    assert verdicts.coordinator_taken_down(3, [1, 2]) is False
    errors = ['KafkaError{code=NOT_COORDINATOR,val=16,str="x"}', 'KafkaError{code=NOT_COORDINATOR,val=16,str="y"}',
              'KafkaError{code=COORDINATOR_NOT_AVAILABLE,val=15,str="z"}']
    assert verdicts.consumer_error_names(errors) == ["COORDINATOR_NOT_AVAILABLE", "NOT_COORDINATOR"]
    assert verdicts.consumer_error_names([]) == []
    assert verdicts.stop_leaders_s(None) is None
    compared = pd.DataFrame({"crash": [9.5], "stop": [1.2]}, index=["every partition led by a live broker again"])
    assert verdicts.stop_leaders_s(compared) == 1.2


def test_wide_listeners():
    local = pd.DataFrame({"process": ["kafka node 1"], "listener": ["PLAINTEXT"], "binds": ["127.0.0.1"]})
    assert verdicts.wide_listeners(local) == []
    wide = pd.DataFrame({"process": ["kafka node 1", "epmd"], "listener": ["PLAINTEXT", "epmd (port mapper)"],
                         "binds": ["127.0.0.1", "0.0.0.0, ::"]})
    assert verdicts.wide_listeners(wide) == ["epmd epmd on 0.0.0.0, ::"]


def test_error_names():
    error = 'KafkaError{code=NOT_ENOUGH_REPLICAS,val=19,str="Broker: Not enough in-sync replicas"}'
    assert error_name(error) == "NOT_ENOUGH_REPLICAS"
    assert error_text(error) == "Broker: Not enough in-sync replicas"
    assert error_name(None) == "" == error_text("")


def test_compose_listener_table_reads_the_compose_file(tmp_path):
    path = tmp_path / "kafka.yml"
    path.write_text(
        "services:\n  kafka-1:\n    image: apache/kafka\n    ports: ['127.0.0.1:19092:19092']\n"
        "    environment:\n      KAFKA_LISTENERS: 'INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:19092,"
        "CONTROLLER://kafka-1:9093'\n      KAFKA_ADVERTISED_LISTENERS: 'INTERNAL://kafka-1:9092,"
        "EXTERNAL://127.0.0.1:19092'\n  other:\n    image: x\n", encoding="utf-8")
    table = compose_listener_table(path).set_index("listener")
    assert list(table.index) == ["INTERNAL", "EXTERNAL", "CONTROLLER"]
    assert table.loc["EXTERNAL", "published on the host"] == "127.0.0.1:19092"
    assert table.loc["INTERNAL", "published on the host"] == "no"
    assert table.loc["CONTROLLER", "advertised"] == "(not advertised)"
    assert table.loc["INTERNAL", "binds (in the container)"] == "0.0.0.0:9092"


def test_the_stall_ends_with_the_isr_only_within_two_samples():
    assert verdicts.stall_ended_with_isr(milestones.AckStall(10.0, 15.3, 23.6, 23.4), 0.5) is True
    assert verdicts.stall_ended_with_isr(milestones.AckStall(10.0, 15.3, 23.6, 18.0), 0.5) is False  # ISR earlier
    assert verdicts.stall_ended_with_isr(milestones.AckStall(10.0, 15.3, 23.6, 30.0), 0.5) is False  # ISR later
    assert verdicts.stall_ended_with_isr(milestones.AckStall(10.0, 15.3, 23.6, float("nan")), 0.5) is None
