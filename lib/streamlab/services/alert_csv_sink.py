"""Sink: alerts (health state changes) → <data_dir>/alerts/alerts.csv.

Run: python -m streamlab.services.alert_csv_sink --duration 60
"""

from __future__ import annotations

import logging

import typer

from ..pipeline.topics import ALERTS
from .common import ServiceOptions, service_command
from .exactly_once_files import CsvAppender
from .sink_loop import SinkSettings, run_sink

ALERT_COLUMNS = ["machine_id", "seq", "ts_ns", "source_ts_ns", "previous_state", "state", "reason",
                 "health_score", "sink_received_ns", "sink_ts_ns"]
#: An alert is identified by the reading that raised it and the state it reports, not by its seq:
#: a restarted processor numbers its alerts from 0 again, but re-raises the same alert for the same reading.
ALERT_KEY = ["machine_id", "source_ts_ns", "state"]


@service_command("alert-csv-sink")
def main(options: ServiceOptions, log: logging.Logger,
         flush_interval: float = typer.Option(1.0, show_default=True, help="seconds between durable writes")) -> None:
    """Append alerts to a CSV file, exactly once across restarts."""
    writer = CsvAppender(options.data_dir / "alerts" / "alerts.csv", ALERT_COLUMNS, ALERT_KEY)
    run_sink(options, log, SinkSettings(ALERTS.name, "alert-csv-sink", flush_interval, 1000),
             writer, lambda alert: alert.to_dict())


if __name__ == "__main__":
    main()
