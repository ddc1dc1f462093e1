"""The sinks' file writing: idempotent across restarts, one schema across files, nothing half-written."""

from __future__ import annotations

import pandas as pd

from streamlab.domain import HealthRecord
from streamlab.services.health_parquet_sink import health_row
from streamlab.services.sinkio import CsvAppender, HourlyParquetWriter

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


def test_csv_appender_keeps_one_row_per_key_across_restarts(tmp_path):
    path = tmp_path / "alerts.csv"
    columns = ["machine_id", "seq", "state"]
    first = CsvAppender(path, columns, ["machine_id", "seq"])
    first.write(first.fresh([{"machine_id": "M1", "seq": 0, "state": "warning"},
                             {"machine_id": "M1", "seq": 0, "state": "warning"}]))
    second = CsvAppender(path, columns, ["machine_id", "seq"])
    second.write(second.fresh([{"machine_id": "M1", "seq": 0, "state": "warning"},
                               {"machine_id": "M2", "seq": 0, "state": "critical"}]))
    frame = pd.read_csv(path)
    assert frame.to_dict("records") == [{"machine_id": "M1", "seq": 0, "state": "warning"},
                                        {"machine_id": "M2", "seq": 0, "state": "critical"}]


def test_a_redelivery_behind_newer_records_is_kept(tmp_path):
    """RabbitMQ requeues an unacknowledged message behind newer ones: seq 1 after seq 2 is not a duplicate."""
    writer = HourlyParquetWriter(tmp_path)
    writer.write(writer.fresh([_row("M000", 0, {}), _row("M000", 2, {})]))
    restarted = HourlyParquetWriter(tmp_path)
    fresh = restarted.fresh([_row("M000", 3, {}), _row("M000", 1, {}), _row("M000", 2, {}), _row("M000", 1, {})])
    assert [r["seq"] for r in fresh] == [3, 1]
    restarted.write(fresh)
    assert sorted(pd.read_parquet(tmp_path)["seq"]) == [0, 1, 2, 3]
    assert restarted.seen["M000"].prefix == 3 and not restarted.seen["M000"].beyond
