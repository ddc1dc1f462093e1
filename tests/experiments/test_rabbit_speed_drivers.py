"""The RabbitMQ drivers of issue 17 against the test node: valid, comparable results (no speed asserts).

A fixed rate is a ceiling (a busy machine may fall short of it, never above it);
what must hold is that every record sent is received, the percentiles are there
and ordered, and the drivers that are compared ran the same queue type at the
same rate.
"""

from __future__ import annotations

import pytest

from streamlab.experiments.bench import run_bench
from streamlab.experiments.drivers import get_driver
from streamlab.experiments.rabbit_speed import NodeMemory
from streamlab.experiments.workload import workload_from_dict

from test_bench_drivers import PACING_CEILING, PERFTEST_CEILING, assert_latency_sane

SMOKE = {"name": "smoke", "message_size": 100, "producers": 1, "consumers": 1, "warmup": "1s", "duration": "2s",
         "confirms": 100, "prefetch": 100, "ack_every": 10, "replication": 1}


def smoke(**changes):
    return workload_from_dict({**SMOKE, **changes})


@pytest.mark.rabbitmq
def test_aio_pika_driver_fixed_rate(rabbit_stack):
    run = get_driver("aio-pika").run(smoke(rate=300), rabbit_stack.endpoints)
    assert run.error is None
    assert run.sent > 0 and run.sent == run.received
    assert run.roles["producer"].errors == 0
    assert run.roles["producer"].records_per_s <= 300 * PACING_CEILING      # a ceiling: pacing, not speed
    assert_latency_sane(run)
    assert_latency_sane(run, "producer")                 # confirm latency


@pytest.mark.rabbitmq
def test_pika_driver_reads_a_stream_through_amqp(rabbit_stack):
    run = get_driver("pika").run(smoke(rate=300, queue_type="stream"), rabbit_stack.endpoints)
    assert run.error is None
    assert run.sent > 0 and run.sent == run.received
    assert_latency_sane(run)


@pytest.mark.rabbitmq
def test_pika_and_perftest_at_the_same_rate_are_comparable(rabbit_stack, tmp_path):
    memory = NodeMemory(rabbit_stack.endpoints, every=0.5)
    memory.start()
    bench = run_bench(smoke(rate=500, queue_type="quorum"), "pika,rabbitmq-perftest",
                      endpoints=rabbit_stack.endpoints, out_dir=tmp_path, progress=False)
    sampled = memory.stop()
    assert set(bench.results["queue_type"]) == {"quorum"}
    table = bench.table.set_index("driver")
    assert set(table.index) == {"pika", "rabbitmq-perftest"}
    for driver in table.index:
        row = table.loc[driver]
        assert row["target_rate"] == 500
        ceiling = PERFTEST_CEILING if driver == "rabbitmq-perftest" else PACING_CEILING
        assert row["producer_records_per_s"] <= 500 * ceiling                  # a ceiling: pacing, not speed
        assert 0 < row["e2e_p50_ms"] <= row["e2e_p99_ms"]
    assert sampled["node_rss_mb_peak"] > 0 and sampled["node_rss_mb_delta"] >= 0
