"""The application's five services, each a small program: `python -m streamlab.services.<name>`.

Generators (`telemetry_generator`, `vibration_generator`) → processor (`health_processor`) → sinks
(`health_parquet_sink`, `alert_csv_sink`). `common` holds what they share (options and flags on
typer, signals, metrics); `generator_loop` and `sink_loop` their loops; `exactly_once_files` the atomic file
writers; `deadletter` the dead-letter headers. Which service reads and writes which stream is declared
in `streamlab.pipeline.wiring`, not here.
"""
