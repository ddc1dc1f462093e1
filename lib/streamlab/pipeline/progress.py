"""Live view of a running pipeline, read from the services' metrics files (one JSON line per interval),
and the summary printed once it has stopped.

The live table is a view of the moment: it is transient and vanishes when the generators finish. The
summary is built only after the drain, from each service's *final* metrics line (written when the service
exits) and, for the sinks, from the files on disk, so it never shows a number from before the last flush.
Both tables fit 80 columns: short labels, a light box, and only the columns that mean something then.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .runner import instance_service

#: (metrics key, label) of the live table
LIVE_COLUMNS = [("sent", "sent"), ("processed", "scored"), ("written", "on disk"), ("dead_lettered", "dead"),
                ("alerts", "alerts"), ("behind_ms", "late ms"), ("transit_p99_ms", "p99 ms")]
#: the summary leaves out the generators' lateness, a live gauge with no meaning once they stopped
SUMMARY_COLUMNS = [c for c in LIVE_COLUMNS if c[0] != "behind_ms"]
#: counters a restarted service starts again from zero: the summary adds up its runs
COUNTERS = ("sent", "acked", "processed", "received", "written", "dead_lettered", "alerts", "duplicates_skipped")
SHORT_NAMES = {"telemetry-generator": "telemetry", "vibration-generator": "vibration",
               "health-processor": "processor", "health-parquet-sink": "parquet",
               "alert-csv-sink": "csv sink"}


def latest_metrics(metrics_dir: Path) -> dict[str, dict]:
    latest = {}
    for path in sorted(metrics_dir.glob("*.jsonl")):
        lines = path.read_text().strip().splitlines()
        if lines:
            latest[path.stem] = json.loads(lines[-1])
    return latest


def final_metrics(metrics_dir: Path, since_s: float = 0.0) -> dict[str, dict]:
    """Each service's last metrics line, with its counters summed over every run of the service since `since_s`.

    A service restarted during the drain (or by a failure experiment) appends a new run to the same file,
    counting from zero again; a run starts where `uptime_s` goes down. Lines older than `since_s` belong
    to an earlier app run in the same data dir."""
    final = {}
    for path in sorted(metrics_dir.glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        lines = [line for line in lines if line.get("ts", 0) >= since_s]
        if not lines:
            continue
        run_ends = [prev for prev, nxt in zip(lines, lines[1:]) if nxt.get("uptime_s", 0) < prev.get("uptime_s", 0)]
        last = dict(lines[-1])
        for key in COUNTERS:
            if any(key in line for line in (*run_ends, last)):
                last[key] = sum(line.get(key, 0) for line in (*run_ends, last))
        final[path.stem] = last
    return final


def rows_on_disk(data_dir: Path, since_ns: int = 0) -> dict[str, int]:
    """What the sinks' files hold: Parquet and CSV rows a sink wrote at or after `since_ns` (`sink_ts_ns`),
    so rows of an earlier run in the same data dir are not counted."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    counts = {}
    health = data_dir / "health"
    if health.is_dir():
        counts["health-parquet-sink"] = sum(
            pc.sum(pc.greater_equal(pq.read_table(p, columns=["sink_ts_ns"])["sink_ts_ns"], since_ns)).as_py() or 0
            for p in health.rglob("*.parquet"))
    alerts = data_dir / "alerts" / "alerts.csv"
    if alerts.is_file():
        with open(alerts, newline="") as f:
            counts["alert-csv-sink"] = sum(1 for row in csv.DictReader(f) if int(row["sink_ts_ns"]) >= since_ns)
    return counts


def _table(title: str, columns: list[tuple[str, str]], metrics: dict[str, dict],
           override: dict[str, dict[str, object]] | None = None) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, title_justify="left")
    table.add_column("service", no_wrap=True)
    for _key, label in columns:
        table.add_column(label, justify="right", no_wrap=True)
    override = override or {}
    order = list(SHORT_NAMES)   # data-flow order; anything unknown after it

    def place(name: str) -> tuple:
        service = instance_service(name)
        return (order.index(service) if service in order else len(order), service, name != service, name)

    rows = sorted({*metrics, *override}, key=place)
    for name in rows:
        line = {**metrics.get(name, {}), **override.get(name, {})}
        service = instance_service(name)
        label = SHORT_NAMES.get(service, service) + name[len(service):]
        table.add_row(label, *[_fmt(line.get(key)) for key, _label in columns])
        instances = [n for n in rows if instance_service(n) == service]
        if len(instances) > 1 and name == instances[-1]:   # a service's instances, then their sum
            total = {key: sum(metrics.get(n, {}).get(key, 0) for n in instances) for key in COUNTERS
                     if any(key in metrics.get(n, {}) for n in instances)}
            table.add_row(f"{SHORT_NAMES.get(service, service)}, all {len(instances)}",
                          *[_fmt(total.get(key)) for key, _label in columns])
    return table


def metrics_table(metrics: dict[str, dict], elapsed: float, total: float) -> Table:
    return _table(f"streamlab app — {elapsed:.0f}/{total:.0f} s", LIVE_COLUMNS, metrics)


def summary_table(metrics: dict[str, dict], elapsed: float, on_disk: dict[str, int] | None = None) -> Table:
    """The summary after the drain: final counters; for a sink whose files were counted, the files' rows.

    The caption says what was verified, and says it plainly when a sink's own count and its files differ."""
    on_disk = on_disk or {}
    table = _table(f"streamlab app — stopped after {elapsed:.0f} s, all stages drained", SUMMARY_COLUMNS,
                   metrics, {sink: {"written": rows} for sink, rows in on_disk.items()})
    notes = []
    for sink, rows in on_disk.items():
        name = SHORT_NAMES.get(sink, sink)
        reported = metrics.get(sink, {}).get("written")
        if reported is None or reported == rows:
            notes.append(f"{name}: {rows:,} rows verified on disk")
        else:
            notes.append(f"{name}: files hold {rows:,} rows, the sink reported {reported:,.0f}")
    if notes:
        table.caption = "\n".join(notes)
        table.caption_justify = "left"
    return table


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if isinstance(value, (int, float)) and abs(value) >= 100 else str(value)


def watch_app(run, console: Console) -> None:
    """Refresh a table each second until the generators finish; the table then vanishes (it is stale)."""
    metrics_dir = run.config.data_dir / "metrics"
    start = time.monotonic()
    with Live(console=console, refresh_per_second=2, transient=True) as live:
        while run.generators_running():
            run._check_alive()
            live.update(metrics_table(latest_metrics(metrics_dir), time.monotonic() - start, run.config.duration_s))
            time.sleep(1)


def print_summary(run, console: Console) -> None:
    """After `run.stop()`: the final table, from the metrics written on exit and the sinks' files."""
    data_dir, started = run.config.data_dir, run.started_at
    console.print(summary_table(final_metrics(data_dir / "metrics", started), time.time() - started,
                                rows_on_disk(data_dir, int(started * 1e9))))
