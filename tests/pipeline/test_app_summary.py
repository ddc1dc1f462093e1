"""The summary `streamlab run app` prints after the drain (issue 21.1): final metrics, files counted, 80 columns."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console

from streamlab.pipeline.progress import final_metrics, rows_on_disk, summary_table

T0 = 1_700_000_000.0


def _metrics(tmp_path, service: str, lines: list[dict]) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir(exist_ok=True)
    (folder / f"{service}.jsonl").write_text("".join(json.dumps({"service": service, **line}) + "\n" for line in lines))


def _render(table, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    console.print(table)
    return console.export_text()


def _fake_run(tmp_path) -> None:
    _metrics(tmp_path, "telemetry-generator", [{"ts": T0 - 999, "uptime_s": 300, "sent": 5}] +  # an earlier run
             [{"ts": T0 + 2, "uptime_s": 2, "sent": 1_200}, {"ts": T0 + 300, "uptime_s": 300, "sent": 180_060}])
    _metrics(tmp_path, "health-processor", [{"ts": T0 + 300, "uptime_s": 300, "processed": 179_000, "alerts": 12},
                                            {"ts": T0 + 305, "uptime_s": 305, "processed": 180_060, "alerts": 14,
                                             "dead_lettered": 1_000}])
    # the Parquet sink: last live line says 178,989; its final line 150,000, then a drain restart wrote 30,060
    _metrics(tmp_path, "health-parquet-sink", [
        {"ts": T0 + 300, "uptime_s": 300, "written": 178_989, "transit_p99_ms": 41.5},
        {"ts": T0 + 301, "uptime_s": 301, "written": 150_000},
        {"ts": T0 + 309, "uptime_s": 4, "written": 30_060, "transit_p99_ms": 43.25}])
    table = pa.table({"seq": list(range(180_060)), "sink_ts_ns": [int((T0 + 10) * 1e9)] * 180_060})
    old = pa.table({"seq": [1, 2], "sink_ts_ns": [int((T0 - 500) * 1e9)] * 2})
    (tmp_path / "health" / "date=x" / "hour=y").mkdir(parents=True)
    pq.write_table(table, tmp_path / "health" / "date=x" / "hour=y" / "part-1.parquet")
    pq.write_table(old, tmp_path / "health" / "date=x" / "hour=y" / "part-0.parquet")
    (tmp_path / "alerts").mkdir()
    with open(tmp_path / "alerts" / "alerts.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["machine_id", "seq", "sink_ts_ns"])
        writer.writerows([["m1", i, int((T0 + 20) * 1e9)] for i in range(14)] + [["m0", 0, int((T0 - 9) * 1e9)]])


def test_final_metrics_sum_restarts_and_skip_earlier_runs(tmp_path):
    _fake_run(tmp_path)
    final = final_metrics(tmp_path / "metrics", since_s=T0)
    assert final["telemetry-generator"]["sent"] == 180_060
    assert final["health-processor"]["processed"] == 180_060
    assert final["health-parquet-sink"]["written"] == 180_060          # 150,000 + 30,060 after the restart
    assert final["health-parquet-sink"]["transit_p99_ms"] == 43.25     # a gauge: the last value, not a sum


def test_rows_on_disk_counts_this_run_only(tmp_path):
    _fake_run(tmp_path)
    assert rows_on_disk(tmp_path, int(T0 * 1e9)) == {"health-parquet-sink": 180_060, "alert-csv-sink": 14}


def test_summary_shows_final_numbers_verified_and_fits_80_columns(tmp_path):
    _fake_run(tmp_path)
    since = T0
    text = _render(
        summary_table(final_metrics(tmp_path / "metrics", since), 309, rows_on_disk(tmp_path, int(since * 1e9)))
    )
    assert "178,989" not in text                      # the stale live frame's number
    assert text.count("180,060") == 4                 # sent, scored, on disk, and the caption
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "parquet: 180,060 rows verified on disk" in " ".join(text.split())
    assert "csv sink: 14 rows verified on disk" in " ".join(text.split())


def test_summary_says_when_files_and_metrics_differ():
    text = _render(summary_table({"health-parquet-sink": {"written": 100}}, 10, {"health-parquet-sink": 90}))
    assert "files hold 90 rows, the sink reported 100" in " ".join(text.split())


def test_live_table_fits_80_columns_uncut():
    from streamlab.pipeline.progress import metrics_table

    live = {"telemetry-generator": {"sent": 1_800_060, "behind_ms": 3.5}, "vibration-generator": {"sent": 180_006},
            "health-processor": {"processed": 1_800_060, "alerts": 14, "dead_lettered": 1_000},
            "health-parquet-sink": {"written": 1_789_890, "transit_p99_ms": 41.5}, "alert-csv-sink": {"written": 14}}
    text = _render(metrics_table(live, 300, 300))
    assert "…" not in text and "1,800,060" in text and "late ms" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_summary_counts_every_processor_instance(tmp_path):
    """Instances 2..N of the processor write health-processor-2, -3 ...: each gets a row after the first,
    and a row adds them up (what the run scored)."""
    for instance, processed in (("health-processor", 1_000), ("health-processor-2", 2_000),
                                ("health-processor-3", 500)):
        _metrics(tmp_path, instance, [{"ts": T0 + 5, "uptime_s": 5, "processed": processed, "alerts": 1}])
    _metrics(tmp_path, "health-parquet-sink", [{"ts": T0 + 6, "uptime_s": 6, "written": 3_500}])
    final = final_metrics(tmp_path / "metrics", since_s=T0)
    assert set(final) == {"health-processor", "health-processor-2", "health-processor-3", "health-parquet-sink"}
    lines = [" ".join(line.split()) for line in _render(summary_table(final, 6)).splitlines()]
    rows = [line for line in lines if line.startswith(("processor", "parquet"))]
    assert [row.split()[0] for row in rows] == ["processor", "processor-2", "processor-3", "processor,", "parquet"]
    assert rows[3] == "processor, all 3 3,500 3"    # scored and alerts, summed
