"""Deep dive 2 on one broker: both tools measure the same grid point; every read path reads every record once."""

from __future__ import annotations

import math

import pytest

from streamlab.errors import UserError
from streamlab.experiments.deep_dives import limits

pytestmark = pytest.mark.kafka


def test_the_python_client_and_kafka_producer_perf_test_measure_the_same_point(kafka_stack):
    points = limits.send_grid([100], ["all"], [5])
    frame = limits.send_limits(kafka_stack.endpoints, points, point_mb=0.2, partitions=3, replication=1)
    assert sorted(frame["driver"]) == ["confluent-kafka", "kafka-perf-test"]
    assert (frame["error"] == "").all() and (frame["errors"] == 0).all()
    assert (frame["records"] == limits.records_for(100, 0.2)).all()      # both sent every record of the point
    assert frame["records_per_s"].gt(0).all() and frame["mb_per_s"].gt(0).all()
    java = frame.set_index("driver").loc["kafka-perf-test"]
    assert java["ratio_to_java"] == 1.0 and not math.isnan(java["ack_p99_ms"])


def test_every_read_path_reads_every_record_exactly_once(kafka_stack):
    paths = ["poll() per message", "consume(1000) batches", "library consumer (Record)", "library consumer + decode"]
    frame = limits.read_paths(kafka_stack.endpoints.kafka_bootstrap, records=5000, partitions=3, time_cap_s=60,
                              variants=paths)
    assert list(frame["path"]) == [limits.JAVA_READ, *paths]
    assert (frame["records"] == 5000).all() and frame["complete"].all()
    assert limits.incomplete_paths(frame) == []


def test_the_knee_runs_each_fraction_at_its_target(kafka_stack, monkeypatch):
    asked = []
    run_one = limits.bench.run_one

    def spy(runner, workload, *args, **kwargs):
        asked.append(workload.rate)
        return run_one(runner, workload, *args, **kwargs)

    monkeypatch.setattr(limits.bench, "run_one", spy)
    frame = limits.knee(kafka_stack.endpoints, 400.0, [0.5, 1.0], partitions=3, replication=1, warmup_s=0.5,
                        duration_s=2.0)
    assert asked == [200.0, 400.0]                                    # each run was paced at its fraction
    assert list(frame["target_per_s"]) == asked
    assert (frame["error"] == "").all() and frame["e2e_p50_ms"].notna().all()
    # pacing, not speed: a paced producer is never faster than asked (a slow machine only falls short)
    assert (frame["sent_per_s"] <= 1.2 * frame["target_per_s"]).all(), frame.to_string()


def test_bad_limits_parameters_are_user_errors():
    with pytest.raises(UserError, match="acks"):
        limits.send_grid([100], ["2"], [5])
    with pytest.raises(UserError, match="message size"):
        limits.send_grid([8], ["all"], [5])
    with pytest.raises(UserError, match="fractions"):
        limits.check_fractions([0.5, 2.0])
    with pytest.raises(UserError, match="read path"):
        limits.read_paths("127.0.0.1:1", variants=["telepathy"])


def test_the_grid_varies_one_factor_at_a_time_around_its_centre():
    points = limits.send_grid([100, 1024], ["1", "all"], [5, 0])
    assert [p.label for p in points] == ["100 B, acks=all, linger 5 ms", "1 KB, acks=all, linger 5 ms",
                                         "100 B, acks=1, linger 5 ms", "100 B, acks=all, linger 0 ms"]


class _Reader:
    """A consumer whose position is known per partition, as librdkafka reports it."""

    def __init__(self, offsets: dict[int, int]) -> None:
        self.offsets = offsets

    def position(self, parts):
        from confluent_kafka import TopicPartition

        return [TopicPartition(tp.topic, tp.partition, self.offsets[tp.partition]) for tp in parts]


def test_a_partition_without_records_does_not_make_a_complete_read_incomplete():
    from confluent_kafka import OFFSET_INVALID

    ends = {0: 2500, 1: 0, 2: 2500}      # partition 1 never got a record: librdkafka has no position for it
    assert limits._positions_match(_Reader({0: 2500, 1: OFFSET_INVALID, 2: 2500}), "t", ends)
    assert not limits._positions_match(_Reader({0: 2500, 1: OFFSET_INVALID, 2: 2499}), "t", ends)
