"""Kafka's own producer at the processor's output size: a valid, comparable row, and the target as a multiple of it."""

from __future__ import annotations

import math

from streamlab.experiments.profiling import kafka_producer_ceiling, record_sizes, target_vs_ceiling


def test_record_sizes_are_the_encoded_sizes_of_a_full_window():
    sizes = record_sizes(machines=3, per_machine=120)
    assert 100 < sizes["telemetry_bytes"] < sizes["health_bytes"] < 2000, sizes


def test_the_ceiling_is_kafkas_perf_tool_writing_records_of_the_given_size(kafka_stack):
    row = kafka_producer_ceiling(350, records=5_000, partitions=2, ep=kafka_stack.endpoints)
    assert row["tool"] == "kafka-producer-perf-test" and row["record_bytes"] == 350
    assert row["records"] == 5_000
    assert row["records_per_s"] > 0 and math.isclose(row["mb_per_s"], row["records_per_s"] * 350 / 2**20, rel_tol=0.05)


def test_the_target_is_a_multiple_of_the_ceiling():
    assert target_vs_ceiling(25_000, 50_000) == 2.0
    assert target_vs_ceiling(100_000, 50_000) == 0.5
    assert math.isnan(target_vs_ceiling(float("nan"), 50_000))
