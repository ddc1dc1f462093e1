"""What chapter 00 reads from a tour's frames (milestones, gaps, phases) and the phrases it glues."""

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
    assert verdicts.probe_outcome(probes, "2 of 3 brokers up", 3, "all") == (
        "0 of 12 acknowledged, error NOT_ENOUGH_REPLICAS (Broker: Not enough in-sync replicas)")
    assert verdicts.probe_outcome(probes, "2 of 3 brokers up", 2, "all").endswith(
        "(not what the rule predicts: all acknowledged)")
    live = verdicts.probe_outcome(probes, "1 of 3 brokers up", 2, "1")
    assert "acknowledged in partition(s) 2, led by a live broker: 2" in live and "not what" not in live
    assert verdicts.probe_outcome(probes, "3 of 3 brokers up", 2, "all") == "not probed in this run"
    assert "NOT_ENOUGH_REPLICAS — Broker: Not enough" in verdicts.not_enough_replicas(probes)
    assert verdicts.not_enough_replicas(probes.iloc[1:2]) == "No probe got NOT_ENOUGH_REPLICAS in this run."


def test_delivery_phrases():
    assert verdicts.acknowledged_lost(0).startswith("No acknowledged message is missing")
    assert verdicts.acknowledged_lost(3) == "3 acknowledged messages are missing from the log"
    assert verdicts.stored_twice_idempotent(0).startswith("None was stored twice")
    assert verdicts.stored_twice_idempotent(1) == "1 message was stored twice despite the idempotent producer."
    assert verdicts.group_redelivered(0) == "; none twice in this run"
    assert verdicts.group_redelivered(4).startswith("; 4 deliveries were repeats")
    assert verdicts.failed_but_stored(0) == "None of the failed ones is in the log."
    assert verdicts.stored_twice_plain(2) == "Without idempotence, the client's retries stored 2 messages twice."


def test_coordinator_errors_stack_and_topics():
    assert verdicts.coordinator(None, [1]) == "was not named by the cluster in this run"
    assert verdicts.coordinator(1, [1, 2]).endswith("one of the brokers the tour took down")
    assert verdicts.coordinator(3, [1, 2]) == "was broker 3, which stayed up"
    errors = ['KafkaError{code=NOT_COORDINATOR,val=16,str="x"}', 'KafkaError{code=NOT_COORDINATOR,val=16,str="y"}']
    assert verdicts.consumer_errors(errors) == "Errors the group member saw on the way: NOT_COORDINATOR."
    assert verdicts.consumer_errors([]) == "The group member reported no errors on the way."
    assert verdicts.stack_up(True).startswith("it was already running")
    assert verdicts.topics_left([]) == "the tour's topics are deleted"
    assert verdicts.crash_vs_stop(None, None).startswith("Not run in this profile")


def test_loopback_only():
    local = pd.DataFrame({"process": ["kafka node 1"], "listener": ["PLAINTEXT"], "binds": ["127.0.0.1"]})
    assert verdicts.loopback_only(local).startswith("Every listener binds the loopback interface only:")
    wide = pd.DataFrame({"process": ["kafka node 1", "epmd"], "listener": ["PLAINTEXT", "epmd"],
                         "binds": ["127.0.0.1", "0.0.0.0, ::"]})
    assert "except: epmd's epmd on 0.0.0.0, ::" in verdicts.loopback_only(wide)


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


def test_ack_stall_names_the_isr_only_when_the_acks_resume_with_it():
    from streamlab.experiments.cluster_tour import verdicts as tour_verdicts

    with_isr = tour_verdicts.ack_stall(10.0, 15.3, 23.6, 23.4, 0.5)
    assert "resumed as the dead follower left the ISR" in with_isr and "5.3 s to 13.6 s" in with_isr
    assert "something besides the ISR" in tour_verdicts.ack_stall(10.0, 15.3, 23.6, 18.0, 0.5)
    assert "does not show the ISR" in tour_verdicts.ack_stall(10.0, 15.3, 23.6, 30.0, 0.5)
    assert "no conclusion" in tour_verdicts.ack_stall(10.0, 15.3, 23.6, float("nan"), 0.5)
