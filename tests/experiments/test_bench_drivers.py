"""Smoke runs of every benchmark driver against the test brokers: a few seconds each.

Each asserts what a benchmark must get right before its numbers mean anything:
every record sent is received, latencies are positive and ordered, and the
topic/queues the run created are gone afterwards.
"""

from __future__ import annotations

import math
import time

import pytest

from streamlab.experiments.bench import run_bench
from streamlab.experiments.drivers import get_driver
from streamlab.experiments.workload import workload_from_dict

SMOKE = {"name": "smoke", "message_size": 100, "partitions": 3, "replication": 1, "producers": 1, "consumers": 1,
         "warmup": "1s", "duration": "2s", "confirms": 100, "prefetch": 100, "ack_every": 10}


PERFTEST_CEILING = 1.5      # see test_rabbitmq_perftest
#: A paced driver is never faster than asked; how far short of the rate a busy machine falls is the
#: benchmark's to report (chapter 02's tables), not a test's: the rate asserts below are ceilings only.
PACING_CEILING = 1.2


def smoke(**changes):
    return workload_from_dict({**SMOKE, **changes})


def bench_topics(bootstrap: str) -> list[str]:
    from streamlab.stack.explorer import describe_topics

    frame = describe_topics(bootstrap, offsets=False)
    return sorted(t for t in set(frame["topic"]) if t.startswith("streamlab-bench-"))


def assert_latency_sane(run, role: str = "e2e") -> None:
    latency = run.roles[role].latency
    assert latency is not None and latency.count > 0
    assert latency.p50_ms > 0
    assert latency.ordered, latency
    # consistency, not speed: no record can have waited longer than the whole run has lasted so far
    # (a latency in the wrong unit, or stamped from another clock, would)
    lasted_ms = (time.time() - run.started_at) * 1000
    values = [v for v in (latency.p50_ms, latency.p99_ms, latency.max_ms) if not math.isnan(v)]
    assert all(v <= lasted_ms for v in values), (latency, lasted_ms)


@pytest.mark.kafka
@pytest.mark.parametrize("driver", ["kafka-python", "confluent-kafka"])
def test_python_kafka_driver_fixed_rate(kafka_stack, driver):
    bootstrap = kafka_stack.endpoints.kafka_bootstrap
    run = get_driver(driver).run(smoke(rate=500), kafka_stack.endpoints)
    assert run.error is None
    assert run.sent > 0 and run.sent == run.received
    assert run.roles["producer"].errors == 0
    assert run.roles["producer"].records_per_s <= 500 * PACING_CEILING
    assert_latency_sane(run)
    assert run.replication == 1 and run.brokers == 1
    assert bench_topics(bootstrap) == []


@pytest.mark.kafka
@pytest.mark.parametrize("driver", ["kafka-python", "confluent-kafka"])
def test_python_kafka_driver_sequential_max(kafka_stack, driver):
    run = get_driver(driver).run(smoke(phases="sequential", max_records=5000), kafka_stack.endpoints)
    assert run.sent == run.received == 5000
    assert "e2e" not in run.roles                       # nothing to measure when consuming afterwards


@pytest.mark.kafka
def test_several_producer_and_consumer_processes(kafka_stack):
    run = get_driver("confluent-kafka").run(smoke(rate=600, producers=2, consumers=2), kafka_stack.endpoints)
    assert run.sent == run.received > 0
    assert run.roles["producer"].records_per_s <= 600 * PACING_CEILING          # 300/s each, summed
    assert_latency_sane(run)


@pytest.mark.kafka
def test_kafka_perf_test_counts_match(kafka_stack):
    run = get_driver("kafka-perf-test").run(smoke(max_records=20_000), kafka_stack.endpoints)
    assert run.roles["producer"].total_records == 20_000
    assert run.received == 20_000
    assert run.roles["producer"].records_per_s > 0 and run.roles["consumer"].records_per_s > 0
    assert_latency_sane(run, "producer")                 # send→ack percentiles of the tool's total line
    assert bench_topics(kafka_stack.endpoints.kafka_bootstrap) == []


@pytest.mark.kafka
def test_kafka_e2e_latency_tool(kafka_stack):
    run = get_driver("kafka-e2e-latency").run(smoke(duration="1s"), kafka_stack.endpoints)
    latency = run.roles["e2e"].latency
    assert latency.count >= 500
    assert latency.mean_ms > 0 and latency.ordered


@pytest.mark.rabbitmq
def test_pika_driver_fixed_rate(rabbit_stack):
    run = get_driver("pika").run(smoke(rate=500), rabbit_stack.endpoints)
    assert run.error is None
    assert run.sent > 0 and run.sent == run.received
    assert run.roles["producer"].errors == 0
    assert_latency_sane(run)
    assert_latency_sane(run, "producer")                 # publisher-confirm latency


@pytest.mark.rabbitmq
def test_pika_driver_max_rate_without_confirms(rabbit_stack):
    run = get_driver("pika").run(smoke(confirms=0, max_records=5000), rabbit_stack.endpoints)
    assert run.sent == run.received == 5000


@pytest.mark.rabbitmq
def test_rabbitmq_perftest(rabbit_stack):
    run = get_driver("rabbitmq-perftest").run(smoke(rate=500, duration="3s"), rabbit_stack.endpoints)
    producer, consumer = run.roles["producer"], run.roles["consumer"]
    # the fixed rate is a ceiling; a busy machine may fall short. PerfTest's rate limiter makes up for a
    # stalled second in the next (seen here: 585 then 918 msg/s at -r 500), and its counts are per-second
    # rates × seconds, so a 2-s window needs a wider tolerance than our exact counts
    assert producer.total_records > 0 and producer.records_per_s <= 500 * PERFTEST_CEILING
    # PerfTest prints rates per second, so its counts are rates × seconds: an estimate (off by 2.6 % once
    # at load 20, when its last consumer second printed late)
    assert consumer.total_records == pytest.approx(producer.total_records, rel=0.05)
    assert_latency_sane(run)


@pytest.mark.kafka
def test_run_bench_saves_tidy_results_and_ratios(kafka_stack, tmp_path):
    bench = run_bench(smoke(phases="sequential", max_records=10_000), "confluent-kafka,kafka-perf-test",
                      endpoints=kafka_stack.endpoints, out_dir=tmp_path, progress=False)
    for name in ("results.parquet", "results.csv", "timeseries.parquet", "table.csv", "machine.json",
                 "workload.yaml"):
        assert (tmp_path / name).is_file(), name
    results = bench.results
    assert set(results["driver"]) == {"confluent-kafka", "kafka-perf-test"}
    assert {"producer", "consumer"} <= set(results["role"])
    assert (results["cores"] > 0).all() and (results["memory_gb"] > 0).all()
    table = bench.table.set_index("driver")
    assert table.loc["kafka-perf-test", "producer_ratio"] == pytest.approx(1.0)
    assert table.loc["kafka-perf-test", "consumer_ratio"] == pytest.approx(1.0)
    assert table.loc["confluent-kafka", "producer_ratio"] > 0
    assert bench.runs[0][1].sent == bench.runs[0][1].received == 10_000
    assert bench_topics(kafka_stack.endpoints.kafka_bootstrap) == []
