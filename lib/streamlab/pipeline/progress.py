"""Live view of a running pipeline, read from the services' metrics files (one JSON line per interval)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

COLUMNS = [("sent", "sent"), ("processed", "scored"), ("written", "on disk"), ("dead_lettered", "dead"),
           ("alerts", "alerts"), ("behind_ms", "late ms"), ("transit_p99_ms", "p99 ms")]


def latest_metrics(metrics_dir: Path) -> dict[str, dict]:
    latest = {}
    for path in sorted(metrics_dir.glob("*.jsonl")):
        lines = path.read_text().strip().splitlines()
        if lines:
            latest[path.stem] = json.loads(lines[-1])
    return latest


def metrics_table(metrics: dict[str, dict], elapsed: float, total: float) -> Table:
    table = Table(title=f"streamlab app — {elapsed:.0f}/{total:.0f} s")
    table.add_column("service", no_wrap=True)
    for _key, label in COLUMNS:
        table.add_column(label, justify="right")
    for service, line in metrics.items():
        table.add_row(service.replace("-generator", " gen").replace("health-", ""),
                      *[_fmt(line.get(key)) for key, _label in COLUMNS])
    return table


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if isinstance(value, (int, float)) and abs(value) >= 100 else str(value)


def watch_app(run, console: Console) -> None:
    """Refresh a table each second until the generators finish."""
    metrics_dir = run.config.data_dir / "metrics"
    start = time.monotonic()
    with Live(console=console, refresh_per_second=2, transient=False) as live:
        while run.generators_running():
            run._check_alive()
            live.update(metrics_table(latest_metrics(metrics_dir), time.monotonic() - start, run.config.duration_s))
            time.sleep(1)
        live.update(metrics_table(latest_metrics(metrics_dir), time.monotonic() - start, run.config.duration_s))
