"""Deep dive 9 on one broker: the key chooses the partition and keeps per-key order; a hot key skews."""

from __future__ import annotations

import pytest

from streamlab.errors import UserError
from streamlab.experiments.deep_dives import keys

pytestmark = pytest.mark.kafka


def test_murmur2_partitioner_matches_the_java_formula(kafka_stack):
    frame = keys.key_to_partition(kafka_stack.endpoints.kafka_bootstrap, keys.machine_ids(12), partitions=6)
    assert frame["java-compatible"].all()
    # librdkafka's default partitioner is a different function: some key lands elsewhere
    assert (frame["murmur2 formula"] != frame["librdkafka default (consistent_random)"]).any()


def test_keyed_records_keep_per_key_order_and_unkeyed_do_not(kafka_stack):
    frame = keys.ordering(kafka_stack.endpoints.kafka_bootstrap, records=2000, machines=10, partitions=6)
    by_design = frame.groupby("design")
    assert by_design["received"].sum().eq(2000).all()
    assert by_design["inversions"].sum()["keyed by machine"] == 0
    assert (frame[frame["design"] == "keyed by machine"]["partitions_used"] == 1).all()
    # without a key (and without sticky batches) a machine's readings spread, and the reader sees them out of order
    assert (frame[frame["design"] == "no key"]["partitions_used"] > 1).all()
    assert by_design["inversions"].sum()["no key"] > 0


def test_a_hot_key_fills_one_partition_and_salting_spreads_it(kafka_stack):
    per_partition, summary = keys.hot_key(kafka_stack.endpoints.kafka_bootstrap, records=2000, machines=10,
                                          partitions=6, hot_factor=50, salts=6)
    plain, salted = summary.set_index("design").iloc[0], summary.set_index("design").iloc[1]
    assert plain["hot_partitions"] == 1 and plain["hot_inversions"] == 0
    assert salted["hot_partitions"] > 1
    assert salted["skew_max_over_mean"] < plain["skew_max_over_mean"]


def test_bad_key_parameters_are_user_errors(kafka_stack):
    with pytest.raises(UserError, match="hot_factor"):
        keys.hot_key(kafka_stack.endpoints.kafka_bootstrap, hot_factor=0)
