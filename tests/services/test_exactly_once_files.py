"""The sinks' file writing: idempotent across restarts, one schema across files, nothing half-written."""

from __future__ import annotations

import pandas as pd

from streamlab.domain import HealthRecord
from streamlab.services.alert_csv_sink import ALERT_COLUMNS, ALERT_KEY
from streamlab.services.exactly_once_files import CsvAppender, HourlyParquetWriter
from streamlab.services.health_parquet_sink import health_row

TS = 1_790_000_000_000_000_000


def _row(machine: str, seq: int, features: dict[str, float]) -> dict:
    record = HealthRecord(machine, seq, TS + seq, TS + seq, 0.9, "ok", features)
    return health_row(record)


def test_parquet_files_share_one_schema_and_restart_skips_what_is_written(tmp_path):
    writer = HourlyParquetWriter(tmp_path)
    early = [_row("M000", s, {}) for s in range(3)]                    # before the window fills: no features
    later = [_row("M000", s, {"temp_mean": 60.0 + s}) for s in range(3, 6)]
    writer.write(writer.fresh(early))
    writer.write(writer.fresh(later))
    frame = pd.read_parquet(tmp_path)
    assert frame["f_temp_mean"].notna().sum() == 3 and frame["f_temp_mean"].isna().sum() == 3
    assert "f_vib_rms_total" in frame

    restarted = HourlyParquetWriter(tmp_path)                         # a new process reads back what is written
    redelivered = [_row("M000", s, {"temp_mean": 1.0}) for s in range(4, 8)]
    fresh = restarted.fresh(redelivered)
    assert [r["seq"] for r in fresh] == [6, 7]
    restarted.write(fresh)
    assert sorted(pd.read_parquet(tmp_path)["seq"]) == list(range(8))
    assert not list(tmp_path.rglob("*.tmp"))                          # no temp file left behind


def test_csv_appender_keeps_one_alert_per_key_of_the_alert_sink_across_restarts(tmp_path):
    """With the alert sink's own key: a re-raised alert (same reading, same state, new seq after a processor
    restart) is a duplicate; the same reading reported with another state, or another reading, is not."""
    path = tmp_path / "alerts.csv"
    alert = {"machine_id": "M1", "seq": 0, "source_ts_ns": TS, "state": "warning"}
    first = CsvAppender(path, ALERT_COLUMNS, ALERT_KEY)
    first.write(first.fresh([alert, {**alert, "seq": 1}]))
    second = CsvAppender(path, ALERT_COLUMNS, ALERT_KEY)            # a restarted sink reads the file back
    second.write(second.fresh([{**alert, "seq": 0},                  # a redelivery
                               {**alert, "seq": 5},                  # re-raised by a restarted processor
                               {**alert, "state": "critical"},       # another state for the same reading
                               {**alert, "source_ts_ns": TS + 1}]))  # another reading
    frame = pd.read_csv(path)
    assert list(zip(frame["source_ts_ns"], frame["state"], frame["seq"])) == [
        (TS, "warning", 0), (TS, "critical", 0), (TS + 1, "warning", 0)]


def test_a_redelivery_behind_newer_records_is_kept(tmp_path):
    """RabbitMQ requeues an unacknowledged message behind newer ones: seq 1 after seq 2 is not a duplicate."""
    writer = HourlyParquetWriter(tmp_path)
    writer.write(writer.fresh([_row("M000", 0, {}), _row("M000", 2, {})]))
    restarted = HourlyParquetWriter(tmp_path)
    fresh = restarted.fresh([_row("M000", 3, {}), _row("M000", 1, {}), _row("M000", 2, {}), _row("M000", 1, {})])
    assert [r["seq"] for r in fresh] == [3, 1]
    restarted.write(fresh)
    assert sorted(pd.read_parquet(tmp_path)["seq"]) == [0, 1, 2, 3]


def test_a_failed_atomic_write_leaves_no_temp_file(tmp_path, monkeypatch):
    import errno

    import pytest

    from streamlab.services import exactly_once_files as sinkio

    def disk_full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinkio.os, "fsync", disk_full)
    with pytest.raises(OSError):
        sinkio.atomic_write_bytes(tmp_path / "part.parquet", b"x" * 100)
    assert list(tmp_path.iterdir()) == []
