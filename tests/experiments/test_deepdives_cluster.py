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
