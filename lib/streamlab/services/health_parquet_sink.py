"""Sink: machine-health records → hourly Parquet files under <data_dir>/health/date=…/hour=…/.

Run: python -m streamlab.services.health_parquet_sink --duration 60
"""

from __future__ import annotations

import logging

import typer

from ..domain.health import FEATURE_NAMES
from ..pipeline.topics import MACHINE_HEALTH
from .common import ServiceOptions, service_command, warm_up_enabled
from .exactly_once_files import HourlyParquetWriter
from .sink_loop import FLUSH_SIZE, IDLE_CLOSE_S, ROTATE_INTERVAL_S, SinkSettings, run_sink


def health_row(record) -> dict:
    """Flatten the features into `f_<name>` columns, every known feature in every row (null when absent).

    A fixed set of columns keeps every file of the dataset on one schema; readers such as
    `pd.read_parquet(folder)` take the first file's schema and would drop the rest.
    """
    row = record.to_dict()
    features = row.pop("features", {}) or {}
    row.update({f"f_{name}": (float(features[name]) if name in features else None) for name in FEATURE_NAMES})
    row.update({f"f_{name}": float(value) for name, value in features.items() if name not in FEATURE_NAMES})
    return row


@service_command("health-parquet-sink")
def main(options: ServiceOptions, log: logging.Logger,
         flush_interval: float = typer.Option(ROTATE_INTERVAL_S, show_default=True, min=0.0,
                                              envvar="STREAMLAB_SINK_FLUSH_INTERVAL",
                                              help="rolling policy: write a file once the oldest buffered record "
                                                   "has waited this long (s; Kafka Connect's rotate.interval.ms). "
                                                   "Freshness is machine-health-latest's job: lower it only where "
                                                   "a run needs files at once"),
         max_batch: int = typer.Option(FLUSH_SIZE, show_default=True, min=1, envvar="STREAMLAB_SINK_FLUSH_SIZE",
                                       help="rolling policy: write a file once this many records are buffered "
                                            "(Connect's flush.size)"),
         idle_close: float = typer.Option(IDLE_CLOSE_S, show_default=True, min=0.0,
                                          envvar="STREAMLAB_SINK_IDLE_CLOSE",
                                          help="rolling policy: write a file once no record arrived for this "
                                               "long (s), so a quiet input is committed")) -> None:
    """Write machine-health records to hourly Parquet files, exactly once across restarts."""
    writer = HourlyParquetWriter(options.data_dir / "health", warm_up=warm_up_enabled())
    log.info("resuming: the keys of %d record(s) already on disk, read back from the files", len(writer.written))
    settings = SinkSettings(MACHINE_HEALTH.name, "health-parquet-sink", flush_interval, max_batch,
                            idle_close_s=idle_close)
    run_sink(options, log, settings, writer, health_row)


if __name__ == "__main__":
    main()
