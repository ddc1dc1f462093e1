"""The sinks: every per-record step inside the dead-letter boundary, bounded state, and a dedup key a spoof
cannot hijack (issue 15). The real `run_sink` loop runs against the in-memory transport of conftest.py."""

from __future__ import annotations

import logging
import time

import orjson
import pandas as pd

from streamlab.domain import HealthRecord
from streamlab.services.common import ServiceOptions
from streamlab.services.exactly_once_files import CsvAppender, HourlyParquetWriter
from streamlab.services.health_parquet_sink import health_row
from streamlab.services.sink_loop import SinkSettings, run_sink

TS = 1_790_000_000_000_000_000
LOG = logging.getLogger("test")


def health(machine: str, seq: int, source_ts_ns: int | None = None) -> HealthRecord:
    source = TS + seq * 100_000_000 if source_ts_ns is None else source_ts_ns
    return HealthRecord(machine, seq, source + 1000, source, 0.9, "ok", {"temp_mean": 55.0})


def payload(record: HealthRecord, **overrides) -> bytes:
    return orjson.dumps({**record.to_dict(), **overrides})


def run_parquet_sink(fake_transport, tmp_path, records, max_machines: int | None = None, to_row=health_row):
    fake_transport.consumer_.batches = [records]
    options = ServiceOptions(data_dir=tmp_path, instance="health-parquet-sink", duration_s=0.6)
    writer = HourlyParquetWriter(tmp_path / "health")
    settings = SinkSettings("machine-health", "health-parquet-sink", flush_interval_s=0.1, max_batch=100)
    if max_machines is not None:
        settings.max_machines = max_machines
    run_sink(options, LOG, settings, writer, to_row)
    files = list((tmp_path / "health").rglob("*.parquet"))
    frame = pd.read_parquet(tmp_path / "health") if files else pd.DataFrame(columns=["machine_id", "seq"])
    dead = [h["error"].decode() for _t, _k, _v, h in fake_transport.publisher_.on("dead-letter")]
    return frame, dead


def test_a_ts_beyond_int64_is_dead_lettered_by_the_sink_not_a_crash(fake_transport, make_record, tmp_path):
    frame, dead = run_parquet_sink(fake_transport, tmp_path, [
        make_record("machine-health", payload(health("M000", 0), source_ts_ns=2**63 + 7), 0),
        make_record("machine-health", payload(health("M000", 1)), 1)])
    assert list(frame["seq"]) == [1]
    assert len(dead) == 1 and "source_ts_ns" in dead[0]
    assert fake_transport.consumer_.commits >= 1


def test_a_row_that_breaks_the_writer_path_is_dead_lettered(fake_transport, make_record, tmp_path):
    def to_row(record):
        if record.seq == 1:
            raise OverflowError("int too big to convert")
        return health_row(record)

    frame, dead = run_parquet_sink(fake_transport, tmp_path, [
        make_record("machine-health", payload(health("M000", s)), s) for s in range(3)], to_row=to_row)
    assert sorted(frame["seq"]) == [0, 2]
    assert len(dead) == 1 and "OverflowError" in dead[0]


def test_unknown_machines_beyond_the_cap_are_dead_lettered(fake_transport, make_record, tmp_path):
    frame, dead = run_parquet_sink(fake_transport, tmp_path, [
        make_record("machine-health", payload(health(f"M{i:03d}", 0)), i) for i in range(4)], max_machines=2)
    assert sorted(frame["machine_id"]) == ["M000", "M001"]
    assert len(dead) == 2 and all("machine cap" in reason for reason in dead)


def test_a_spoofed_future_seq_does_not_hide_the_genuine_reading(tmp_path):
    """Someone publishes a valid reading for M000 with a seq the generator has not reached yet; the genuine
    reading with that seq must still be written, and a true redelivery of it must still be dropped."""
    writer = HourlyParquetWriter(tmp_path)
    spoof = health_row(health("M000", 5, source_ts_ns=TS - 42))
    writer.write(writer.fresh([spoof]))
    genuine = [health_row(health("M000", s)) for s in range(7)]
    writer.write(writer.fresh(genuine))
    restarted = HourlyParquetWriter(tmp_path)                 # after a restart, from what the files hold
    assert restarted.fresh([health_row(health("M000", s)) for s in range(7)]) == []
    frame = pd.read_parquet(tmp_path)
    genuine_on_disk = frame[frame["source_ts_ns"] != TS - 42]
    assert sorted(genuine_on_disk["seq"]) == list(range(7))


def test_the_writers_remember_a_bounded_number_of_keys(tmp_path):
    writer = HourlyParquetWriter(tmp_path, capacity=100)
    for start in range(0, 1000, 50):
        writer.write(writer.fresh([health_row(health(f"M{s % 7}", s)) for s in range(start, start + 50)]))
    assert len(writer.written) == 100
    assert writer.written.evicted == 900
    restarted = HourlyParquetWriter(tmp_path, capacity=100)   # reads back only the newest keys
    assert len(restarted.written) == 100
    assert restarted.fresh([health_row(health(f"M{s % 7}", s)) for s in range(950, 1000)]) == []


def test_alert_csv_capacity_is_bounded(tmp_path):
    appender = CsvAppender(tmp_path / "alerts.csv", ["machine_id", "seq"], ["machine_id", "seq"], capacity=10)
    appender.write(appender.fresh([{"machine_id": "M1", "seq": s} for s in range(30)]))
    assert len(appender.keys) == 10


class _PacedConsumer:
    """One record per poll, every `every_s`, for `records` polls; then nothing. Notes the files at each commit."""

    def __init__(self, make_record, records: int, every_s: float, folder) -> None:
        self.pending = [make_record("machine-health", payload(health("M000", s)), s) for s in range(records)]
        self.every_s, self.folder = every_s, folder
        self.files_at_commit: list[int] = []

    def poll(self, timeout: float = 0.0, max_records: int = 1000):
        if not self.pending:
            return []
        time.sleep(self.every_s)
        return [self.pending.pop(0)]

    def commit(self) -> bool:
        self.files_at_commit.append(len(list(self.folder.rglob("*.parquet"))))
        return True

    def close(self) -> None:
        pass


def _paced_run(fake_transport, make_record, tmp_path, settings, records: int, every_s: float, duration_s: float):
    consumer = _PacedConsumer(make_record, records, every_s, tmp_path / "health")
    fake_transport.consumer_ = consumer
    options = ServiceOptions(data_dir=tmp_path, instance="health-parquet-sink", duration_s=duration_s)
    run_sink(options, LOG, settings, HourlyParquetWriter(tmp_path / "health"), health_row)
    return consumer


def test_the_archive_does_not_roll_a_file_per_second_by_default(fake_transport, make_record, tmp_path):
    """Records arriving steadily for 1.5 s make one file (at the stop), not one per second."""
    consumer = _paced_run(fake_transport, make_record, tmp_path, SinkSettings("machine-health", "health-parquet-sink"),
                          records=15, every_s=0.1, duration_s=1.5)
    assert consumer.files_at_commit == [1]
    assert len(pd.read_parquet(tmp_path / "health")) == 15


def test_a_quiet_input_closes_the_file_before_the_rotate_interval(fake_transport, make_record, tmp_path):
    """Nothing arrives after the third record: the file is written and committed while the sink runs on."""
    settings = SinkSettings("machine-health", "health-parquet-sink", idle_close_s=0.2)
    consumer = _paced_run(fake_transport, make_record, tmp_path, settings, records=3, every_s=0.01, duration_s=1.0)
    assert consumer.files_at_commit[0] == 1 and len(consumer.files_at_commit) >= 2   # idle close, then the stop
    assert len(list((tmp_path / "health").rglob("*.parquet"))) == 1
