"""HdrHistogram recording, merging across processes, timelines, the result schema and the tools' parsers."""

from __future__ import annotations

import math
import multiprocessing as mp

import pandas as pd
import pytest

from streamlab.bench.drivers.base import driver_names
from streamlab.bench.drivers.kafka_java_tools import parse_consumer_output, parse_e2e_output, parse_producer_output
from streamlab.bench.drivers.processes import Schedule, payload_template, split_evenly
from streamlab.bench.drivers.rabbitmq_perftest import parse_perftest_output
from streamlab.bench.drivers.results import RESULT_COLUMNS, RoleResult, RunResult
from streamlab.bench.run import ratio_table
from streamlab.bench.workload import load_workload
from streamlab.errors import UserError
from streamlab.measure.latency import LatencyRecorder, LatencySummary, Timeline, merge_encoded, summarize


def record_range(recorder: LatencyRecorder, lo_us: int, hi_us: int) -> None:
    for us in range(lo_us, hi_us + 1):
        recorder.record_ns(us * 1000)


def test_percentiles_of_a_known_distribution():
    recorder = LatencyRecorder()
    record_range(recorder, 1, 10_000)                  # 1 µs .. 10 ms, uniform
    summary = recorder.summary()
    assert summary.count == 10_000
    assert summary.p50_ms == pytest.approx(5.0, rel=2e-3)
    assert summary.p99_ms == pytest.approx(9.9, rel=2e-3)
    assert summary.p999_ms == pytest.approx(9.99, rel=2e-3)
    assert summary.max_ms == pytest.approx(10.0, rel=2e-3)
    assert summary.mean_ms == pytest.approx(5.0, rel=5e-3)
    assert summary.ordered
    assert set(summary.metrics()) == {"p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms"}


def test_empty_recorder_has_no_summary():
    assert LatencyRecorder().summary() is None


def test_out_of_range_values_are_clamped_not_lost():
    recorder = LatencyRecorder()
    recorder.record_ns(-5)                             # a clock step backwards
    recorder.record_ns(0)
    recorder.record_ns(10**16)                         # > 1 h
    summary = recorder.summary()
    assert summary.count == 3
    assert summary.min_ms == pytest.approx(0.001)
    assert summary.max_ms >= 3_600_000 * 0.999


def test_hot_path_buffer_flushes_in_bulk():
    recorder = LatencyRecorder(flush_every=100)
    for _ in range(250):
        recorder.append_ns(2_000_000)                  # 2 ms, the unchecked hot path
        recorder.maybe_flush()
    assert recorder.count == 250
    assert recorder.summary().p50_ms == pytest.approx(2.0, rel=1e-3)


def test_encode_decode_round_trip():
    recorder = LatencyRecorder()
    record_range(recorder, 100, 5000)
    encoded = recorder.encode()
    assert isinstance(encoded, str)
    decoded = LatencyRecorder.decode(encoded)
    assert decoded.summary() == recorder.summary()


def test_merge_adds_counts_and_moves_percentiles():
    fast, slow = LatencyRecorder(), LatencyRecorder()
    record_range(fast, 1, 1000)                        # ≤ 1 ms
    record_range(slow, 9001, 10_000)                   # 9–10 ms
    merged = merge_encoded([fast.encode(), None, slow.encode()])
    summary = summarize(merged)
    assert summary.count == 2000
    assert summary.p50_ms <= 1.0 < summary.p95_ms
    assert summary.max_ms == pytest.approx(10.0, rel=2e-3)
    assert LatencyRecorder().merge(fast).merge(slow.encode()).summary() == summary


def _child_histogram(lo_us: int, hi_us: int) -> str:
    recorder = LatencyRecorder()
    record_range(recorder, lo_us, hi_us)
    return recorder.encode()


def test_histograms_cross_process_boundaries():
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        encoded = pool.starmap(_child_histogram, [(1, 500), (501, 1000)])
    summary = summarize(merge_encoded(encoded))
    assert summary.count == 1000
    assert summary.p50_ms == pytest.approx(0.5, rel=5e-3)


def test_timeline_windows_and_series():
    timeline = Timeline(start=100.0)
    for tenth in range(50):                            # 5 s at 10 records per 0.1 s
        timeline.add(100.0 + tenth / 10 + 0.05, 10, 1000)
    assert timeline.total() == (500, 50_000)
    assert timeline.rate(1.0, 3.0) == pytest.approx((100.0, 10_000.0))
    assert timeline.per_second() == [100] * 5
    other = Timeline(start=101.0)
    other.add(101.05, 7)
    merged = Timeline.merge([timeline, other])
    assert merged.per_second()[1] == 107
    assert Timeline.from_dict(timeline.to_dict()).counts == timeline.counts


def test_a_short_run_is_measured_to_its_last_event_not_to_its_bucket():
    """100,000 records acked 2.0625 s after the start: the rate is 48,485/s, not 100,000 / 2.1 s (issue 30)."""
    timeline = Timeline(start=100.0)
    timeline.add(101.0, 50_000)
    timeline.add(102.0625, 50_000)
    timeline.add(102.08, 0)                            # a flush that counted nothing moves no end
    assert timeline.span_s() == pytest.approx(2.0625)
    assert Timeline.from_dict(timeline.to_dict()).span_s() == pytest.approx(2.0625)
    later = Timeline(start=100.5)
    later.add(102.5, 1)
    assert Timeline.merge([timeline, later]).last_event == pytest.approx(102.5)
    assert Timeline(start=0.0).span_s() == 0.0


def test_schedule_counts_due_slots():
    schedule = Schedule(1000.0, start_ns=0)            # one slot per ms
    assert schedule.due(0, 100) == 1                   # slot 0 is due at the start
    assert schedule.due(4_500_000, 100) == 5           # slots 0..4
    assert schedule.due(4_500_000, 3) == 3
    schedule.index = 5
    assert schedule.next_due_ns() == 5_000_000 and schedule.due(4_900_000, 100) == 0


def test_payload_and_assignment_helpers():
    payload = payload_template(100)
    assert len(payload) == 100 and set(payload) <= set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert split_evenly(list(range(6)), 4, 1) == [1, 5]
    assert driver_names("kafka, pika") == ["kafka-python", "confluent-kafka", "kafka-perf-test", "pika"]
    with pytest.raises(UserError, match="not known"):
        driver_names("kafka-go")


def _run(driver: str, native: bool, producer_rps: float, e2e: LatencySummary | None = None) -> RunResult:
    wl = load_workload("max-throughput-100b")
    run = RunResult(driver, "kafka", native, wl, client_version="x 1.0", brokers=3, replication=3, phases="sequential")
    run.roles["producer"] = RoleResult("producer", records=int(producer_rps * 10), bytes=int(producer_rps * 1000),
                                       seconds=10.0, total_records=int(producer_rps * 12))
    run.roles["consumer"] = RoleResult("consumer", records=int(producer_rps * 12), bytes=int(producer_rps * 1200),
                                       seconds=4.0, total_records=int(producer_rps * 12))
    if e2e is not None:
        run.roles["e2e"] = RoleResult("e2e", records=e2e.count, latency=e2e)
    return run


def test_result_rows_follow_the_schema():
    e2e = LatencySummary(count=10, p50_ms=1.0, p95_ms=2.0, p99_ms=3.0)    # a tool without p99.9/max
    rows = _run("confluent-kafka", False, 50_000, e2e).rows("b1", "b1-01", {"cores": 2, "memory_gb": 23.5})
    frame = pd.DataFrame(rows)
    assert list(frame.columns) == RESULT_COLUMNS
    producer = frame[frame["role"] == "producer"].set_index("metric")["value"]
    assert producer["records_per_s"] == pytest.approx(50_000)
    assert producer["mb_per_s"] == pytest.approx(50_000 * 100 / 2**20)
    assert producer["records"] == 600_000
    e2e_metrics = set(frame[frame["role"] == "e2e"]["metric"])
    assert {"p50_ms", "p95_ms", "p99_ms"} <= e2e_metrics and "p999_ms" not in e2e_metrics
    assert (frame["cores"] == 2).all() and (frame["memory_gb"] == 23.5).all()
    assert frame["machine_busy"].isna().all()                           # no meter ran: nothing claimed


def test_result_rows_carry_how_busy_the_machine_was():
    run = _run("confluent-kafka", False, 50_000)
    run.machine_state = {"machine_busy": True, "others_cpu_pct": 41.0, "steal_pct": 0.2, "load1": 5.5}
    frame = pd.DataFrame(run.rows("b1", "b1-01"))
    assert frame["machine_busy"].all() and (frame["others_cpu_pct"] == 41.0).all() and (frame["load1"] == 5.5).all()
    assert (frame["message_size"] == 100).all() and (frame["acks"] == "all").all()
    assert (frame["replication"] == 3).all() and (frame["client_version"] == "x 1.0").all()


def test_failed_run_is_a_row_not_a_crash():
    run = RunResult("pika", "rabbitmq", False, load_workload("fixed-rate-latency"), error="DriverError: boom")
    rows = run.rows("b", "r")
    assert [(r["role"], r["metric"], r["value"]) for r in rows] == [("run", "failed", 1.0)]
    table = ratio_table(pd.DataFrame(rows, columns=RESULT_COLUMNS))
    assert table.loc[0, "error"] == "DriverError: boom"


def test_ratio_table_divides_by_the_native_tool():
    runs = [_run("kafka-python", False, 20_000), _run("confluent-kafka", False, 90_000),
            _run("kafka-perf-test", True, 100_000)]
    rows = [row for i, run in enumerate(runs) for row in run.rows("b1", f"b1-{i}")]
    table = ratio_table(pd.DataFrame(rows, columns=RESULT_COLUMNS)).set_index("driver")
    assert list(table.index) == ["kafka-python", "confluent-kafka", "kafka-perf-test"]
    assert table.loc["kafka-python", "producer_ratio"] == pytest.approx(0.2)
    assert table.loc["confluent-kafka", "producer_ratio"] == pytest.approx(0.9)
    assert table.loc["kafka-perf-test", "consumer_ratio"] == pytest.approx(1.0)
    assert math.isnan(table.loc["kafka-python", "e2e_p99_ms"])


def test_producer_perf_test_output():
    lines = [
        "127577 records sent, 25287.8 records/sec (2.41 MB/sec), 1937.6 ms avg latency, 3266.0 ms max latency.",
        "277941 records sent, 55212.8 records/sec (5.27 MB/sec), 3558.0 ms avg latency, 5214.0 ms max latency.",
        "1000 records sent, 499.750125 records/sec (0.05 MB/sec), 2.15 ms avg latency, 171.00 ms max latency, "
        "2 ms 50th, 3 ms 95th, 9 ms 99th, 171 ms 99.9th.",
    ]
    windows, total = parse_producer_output(lines)
    assert windows[1] == (277941, 55212.8, 5.27, 3558.0, 5214.0)
    assert total["records"] == 1000 and total["p999_ms"] == 171 and total["p50_ms"] == 2


def test_consumer_perf_test_output():
    lines = ["start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
             "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec",
             "2026-11-26 00:08:10:123, 2026-11-26 00:08:13:456, 54.4700, 16.3426, 571157, 171364.8965, 3052, "
             "1124, 48.4609, 508146.7972"]
    row = parse_consumer_output(lines)
    assert row["data.consumed.in.nMsg"] == 571157 and row["fetch.time.ms"] == 1124


def test_e2e_latency_tool_output():
    out = parse_e2e_output(["0\t12.5", "Avg latency: 1.8421 ms", "Percentiles: 50th = 1, 99th = 4, 99.9th = 12"])
    assert out == {"mean_ms": 1.8421, "p50_ms": 1.0, "p99_ms": 4.0, "p999_ms": 12.0}


def test_perftest_output():
    lines = [
        "id: test-1, time 1.001 s, sent: 6248 msg/s, confirmed: 5866 msg/s, nacked: 0 msg/s, received: 5928 msg/s, "
        "min/median/75th/95th/99th consumer latency: 144/9624/29358/78765/93878 µs, confirm latency: 1/2/3/4/5 µs",
        "id: test-1, time 2.001 s, sent: 14974 msg/s, confirmed: 15356 msg/s, nacked: 0 msg/s, received: 15293 msg/s, "
        "min/median/75th/95th/99th consumer latency: 135/29784/38297/70436/89515 µs, confirm latency: 1/2/3/4/5 µs",
        "test stopped (Reached time limit)",
        "id: test-1, sending rate avg: 14051 msg/s",
        "id: test-1, consumer latency min/median/75th/95th/99th 144/35510/73602/320653/347931 µs",
        "id: test-1, confirm latency min/median/75th/95th/99th 104/29243/46568/82282/157110 µs",
    ]
    samples, summaries = parse_perftest_output(lines)
    assert [s["time"] for s in samples] == [1.001, 2.001]
    assert samples[1]["confirmed"] == 15356 and samples[1]["received"] == 15293
    assert summaries["consumer"].p50_ms == pytest.approx(35.51)
    assert summaries["consumer"].p99_ms == pytest.approx(347.931)
    assert summaries["confirm"].p95_ms == pytest.approx(82.282)


@pytest.mark.parametrize("seed", range(6))
def test_summary_is_exactly_what_hdrh_itself_computes(seed):
    """summarize finds the occupied buckets with numpy; every value must still be hdrh's own."""
    import random

    from streamlab.measure.latency import PERCENTILES

    rng = random.Random(seed)
    recorder = LatencyRecorder()
    for _ in range(rng.choice([1, 2, 50, 5000])):
        recorder.record_ns(int(rng.lognormvariate(rng.choice([5, 9, 14, 18, 22]), rng.choice([0.3, 2.0]))))
    recorder.flush()
    hist = recorder.histogram
    summary = summarize(hist)
    for metric, percentile in PERCENTILES.items():
        assert getattr(summary, metric) == hist.get_value_at_percentile(percentile) / 1000.0, metric
    assert summary.mean_ms == hist.get_mean_value() / 1000.0
    assert (summary.min_ms, summary.max_ms, summary.count) == \
        (hist.get_min_value() / 1000.0, hist.get_max_value() / 1000.0, hist.get_total_count())


def test_summary_of_a_histogram_decoded_from_another_process():
    """Histograms shipped between processes come back decoded; their counters are read the same way."""
    recorder = LatencyRecorder()
    for us in (120, 450, 450, 9_000, 2_000_000):
        recorder.record_ns(us * 1000)
    decoded = LatencyRecorder.decode(recorder.encode())
    assert decoded.summary() == recorder.summary()
    assert decoded.summary().p50_ms == decoded.histogram.get_value_at_percentile(50) / 1000.0
