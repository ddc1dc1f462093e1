"""Deep dives that need three brokers, in one module so the suite starts one 3-node cluster for them."""

from __future__ import annotations

import pytest

from streamlab.errors import UserError
from streamlab.experiments.deepdives import replication

pytestmark = [pytest.mark.cluster, pytest.mark.kafka]


def test_rf1_loses_acknowledged_records_and_rf3_acks_all_loses_none(kafka_cluster):
    kafka = kafka_cluster.part("kafka")
    bootstrap = kafka_cluster.endpoints.kafka_bootstrap
    settings = (replication.Setting(1, "1"), replication.Setting(3, "all", 2))
    frame = replication.durability(kafka, bootstrap, settings, records=600, rate_per_s=300).set_index("replication")
    assert frame.loc[1, "lost_acknowledged"] > 0          # the dead broker's disk held the only copy
    assert frame.loc[3, "lost_acknowledged"] == 0         # every acknowledged record is on a second broker
    assert frame.loc[3, "acknowledged"] > 0
    assert kafka.is_ready()                              # the victim is back


def test_replication_above_the_broker_count_is_a_user_error(kafka_cluster):
    with pytest.raises(UserError, match="replication factor 4"):
        replication.cost(kafka_cluster.endpoints.kafka_bootstrap, (replication.Setting(4, "all", 2),))


# --------------------------------------------------------------------------- ch02b: deep dive 3


def test_preferred_leader_election_restores_one_leader_per_broker(kafka_cluster):
    from streamlab.experiments.deepdives import distribution

    kafka = kafka_cluster.part("kafka")
    frame = distribution.leader_skew(kafka, kafka_cluster.endpoints.kafka_bootstrap, partitions=3, victim=2)
    stopped = frame[frame["phase"] == "broker 2 stopped"].set_index("broker")
    assert stopped.loc[2, "leaders"] == 0                        # a stopped broker leads nothing
    elected = frame[frame["phase"] == "preferred-leader election"]
    assert sorted(elected["leaders"]) == [1, 1, 1]               # one leader per broker again
    assert (elected["replicas"] == 3).all()
    assert kafka.is_ready()


def test_reassignment_spreads_a_topic_onto_the_third_broker_without_failed_sends(kafka_cluster):
    from streamlab.experiments.deepdives import distribution

    timeline, brokers = distribution.reassignment(kafka_cluster.endpoints.kafka_bootstrap, partitions=3,
                                                  prefill_records=2000, rate_per_s=300, before_s=1, after_s=1)
    before = brokers[brokers["phase"] == "before"].set_index("broker")
    after = brokers[brokers["phase"] == "after the move"].set_index("broker")
    third = before.index.max()
    assert before.loc[third, "replicas"] == 0 and after.loc[third, "replicas"] == 2
    assert after.loc[third, "log_mb"] > 0                        # the new replica copied the log
    assert timeline["errors"].iloc[0] == 0                       # the producer never noticed
    # liveness, not a rate: records sent from the move's start on were acknowledged
    from_move = timeline[timeline["t_s"] >= timeline["move_start_s"].iloc[0] - 1]
    assert (from_move["records_per_s"] > 0).any(), timeline.to_string()
