"""Coordinator and leader moves under the running app (issue 36): no service exits, nothing lost or duplicated.

Kafka: the app's group coordinators moved again and again (reassignments of their `__consumer_offsets`
partitions and preferred-leader elections), a controlled restart of a coordinator's broker, every
partition's preferred leader elected. Before the transport retried a moving coordinator, the same run
(20 machines, moves 0.3 s apart) ended the processor and the Parquet sink with COORDINATOR_LOAD_IN_PROGRESS.
RabbitMQ: every quorum queue's leader transferred to the next node, four times. Cost: about a minute each.
"""

from __future__ import annotations

import pytest

from streamlab.experiments.faults import moves, scenarios


def test_the_offsets_partition_of_a_group_is_kafkas():
    # Java: Utils.abs("health-processor".hashCode()) % 50; the hashCode printed by the JDK 17 here
    assert moves.java_string_hash("health-processor") == -197988767
    assert moves.java_string_hash("") == 0 and moves.java_string_hash("Aa") == moves.java_string_hash("BB")
    assert moves.offsets_partition("health-processor", 50) == 197988767 % 50


def test_transfer_answers_are_parsed_per_queue():
    text = ("[{<<\"ns.q1\">>,'rabbit-1@localhost',{migrated,'rabbit-2@localhost'}},\n"
            " {<<\"ns.q2\">>,'rabbit-2@localhost',{not_migrated,already_leader}}]")
    assert moves._parse_transfers(text) == [("ns.q1", "rabbit-1@localhost", "migrated rabbit-2@localhost"),
                                            ("ns.q2", "rabbit-2@localhost", "not_migrated: already_leader")]


def _check(result) -> None:
    events = result.events
    moved = events[events["event"].str.endswith(scenarios.FAULT_EVENTS)]
    assert len(moved) >= 4, events.to_string()                       # the moves were really made
    assert not events["event"].str.endswith(" failed").any(), events.to_string()
    assert all(code == 0 for code in result.exit_codes.values()), result.exit_codes
    assert result.services.exits == 0, result.services
    for sink, row in result.rows.set_index("sink").iterrows():
        assert row["sent"] > 0 and row["on_disk"] == row["sent"], (sink, row.to_dict())
        assert (row["lost"], row["duplicated"], row["temp_files_left"]) == (0, 0, 0), (sink, row.to_dict())


@pytest.mark.kafka
@pytest.mark.cluster
def test_kafka_coordinator_moves_end_no_service(kafka_cluster, tmp_path):
    result = scenarios.run_scenario(scenarios.SCENARIOS["kafka-coordinator-moves"], "kafka", tmp_path / "app",
                                    stack=kafka_cluster, env=kafka_cluster.service_env("kafka"),
                                    duration_s=20.0, machines=20, fault_at_s=1.0, move_every_s=0.3)
    _check(result)
    moved = set(result.events["event"])
    assert any(e.startswith("__consumer_offsets/") for e in moved) and any(e.endswith("stopped and started")
                                                                          for e in moved), moved


@pytest.mark.rabbitmq
@pytest.mark.cluster
def test_rabbitmq_queue_leader_moves_end_no_service(rabbit_cluster, tmp_path):
    env = rabbit_cluster.service_env("rabbitmq")
    result = scenarios.run_scenario(scenarios.SCENARIOS["rabbit-leader-moves"], "rabbitmq", tmp_path / "app",
                                    stack=rabbit_cluster, env=env, duration_s=12.0, machines=6, fault_at_s=1.0,
                                    move_every_s=0.5)
    _check(result)
    details = result.events[result.events["event"].str.endswith("leader moved")]["detail"]
    # a queue whose leader the metadata store has not caught up with may answer already_leader: most must move
    assert (details.str.contains("→ migrated")).sum() >= len(details) / 2, details.to_string()


@pytest.mark.rabbitmq
@pytest.mark.cluster
def test_rabbitmq_leader_kill_finds_the_processors_shard_leader(rabbit_cluster, tmp_path):
    """The node killed is the one leading the processor's first shard queue (the queue must exist by that name:
    it was `<group>.<telemetry>` before the processor read consistent-hash shards, and the lookup failed)."""
    env = rabbit_cluster.service_env("rabbitmq")
    result = scenarios.run_scenario(scenarios.SCENARIOS["rabbit-leader-kill"], "rabbitmq", tmp_path / "app",
                                    stack=rabbit_cluster, env=env, duration_s=12.0, machines=6, fault_at_s=1.0,
                                    down_s=3.0)
    killed = result.events[result.events["event"].str.match(r"broker \d killed")]
    assert len(killed) == 1, result.events.to_string()
    for sink, row in result.rows.set_index("sink").iterrows():
        assert row["sent"] > 0 and (row["lost"], row["duplicated"]) == (0, 0), (sink, row.to_dict())
