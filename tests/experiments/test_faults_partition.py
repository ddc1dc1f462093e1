"""A Kafka broker cut off from its peers (iptables on loopback, by cgroup) under the running app, then healed.

The leader of `telemetry` partition 0 keeps running and keeps its clients; the
other two nodes fence it and elect a new leader. Counted: nothing lost, nothing
duplicated on disk; and the rules and cgroups are gone afterwards.
Cost: one run of about 45 s on the session's 3-node cluster."""

from __future__ import annotations

import subprocess

import pytest
from plugins.capabilities import missing

from streamlab.experiments.faults import netcut, scenarios

# one worker runs the whole module, so the 45 s run of its module fixture happens once
pytestmark = [pytest.mark.kafka, pytest.mark.cluster, pytest.mark.xdist_group("faults-partition")]


@pytest.fixture(scope="module")
def partition_run(kafka_cluster, tmp_path_factory):
    if (reason := netcut.unavailable()) is not None:
        missing(reason)
    # the majority fences the cut node after broker.session.timeout.ms (6 s), plus a controller election
    # when the cut node was also the active controller: 6.5-8.7 s after the cut in four runs, so the cut lasts 12 s
    return scenarios.run_scenario(scenarios.SCENARIOS["kafka-broker-partitioned"], "kafka",
                                  tmp_path_factory.mktemp("partition") / "app", stack=kafka_cluster,
                                  env={"KAFKA_BOOTSTRAP": kafka_cluster.endpoints.kafka_bootstrap},
                                  duration_s=12.0, machines=3, fault_at_s=1.0, down_s=12.0)


def test_the_majority_moves_leadership_away_from_the_cut_off_leader(partition_run):
    events = partition_run.events
    cut = events[events["event"].str.endswith("cut off from its peers")]
    assert len(cut) == 1, events.to_string()
    node = cut["event"].iloc[0].split()[1]
    views = events[events["event"] == "telemetry/0 as the majority sees it"]["detail"]
    assert views.iloc[0].startswith(f"leader {node},"), events.to_string()         # it led when the cut began
    assert any(not v.startswith(f"leader {node},") and "Error" not in v for v in views), events.to_string()
    assert events["event"].str.contains("partition healed").any(), events.to_string()


def test_a_partitioned_leader_loses_and_duplicates_nothing_on_disk(partition_run):
    # a service may fail meanwhile (e.g. a commit to a group coordinator on the cut-off node) and is restarted;
    # what the app promises is on disk
    for sink, row in partition_run.rows.set_index("sink").iterrows():
        assert row["sent"] > 0 and (row["lost"], row["duplicated"]) == (0, 0), (sink, row.to_dict(),
                                                                                 partition_run.events.to_string())


def test_the_cut_leaves_no_rule_and_no_cgroup_behind(partition_run):
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    assert "SLCUT-" not in rules
    assert not list(netcut.cgroup2_root().glob("streamlab-cut-*"))
