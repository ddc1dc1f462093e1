"""Tables readable at 80 columns (issue 19.2): no cut cells, no line wider than the terminal, every row named."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
from rich.console import Console

from streamlab.bench.drivers.base import DRIVERS
from streamlab.bench.run import DISPLAY_COLUMNS, result_rows
from streamlab.bench.workload import list_workloads
from streamlab.cli.output import Column, print_table
from streamlab.paths import HOME


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_bench_list_at_80_columns_keeps_names_and_values_whole():
    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "streamlab.cli", "bench", "list"], capture_output=True, text=True,
                         env=env, cwd=HOME, timeout=60)
    assert out.returncode == 0, out.stderr
    assert max(len(line) for line in _lines(out.stdout)) <= 80
    assert "…" not in out.stdout
    for name in [*list_workloads(), *DRIVERS]:
        assert name in out.stdout
    for header in ("partitions", "warm-up", "duration", "description"):
        assert header in out.stdout


def test_bench_list_on_a_wide_terminal_is_one_table_each():
    out = subprocess.run([sys.executable, "-m", "streamlab.cli", "bench", "list"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "250"}, cwd=HOME, timeout=60)
    assert "(1/" not in out.stdout


def _results() -> pd.DataFrame:
    base = {"workload": "max-throughput-100b", "broker": "kafka", "brokers": 3, "rate": "max", "target_rate": None,
            "error": None, "producer_records_per_s": 123_456.7, "producer_mb_per_s": 12.35,
            "consumer_records_per_s": 234_567.8, "consumer_mb_per_s": 23.46, "e2e_p50_ms": 1234.56,
            "e2e_p99_ms": 2345.67, "e2e_p999_ms": 3456.78, "e2e_max_ms": 4567.89, "producer_p50_ms": 12.34,
            "producer_p99_ms": 56.78, "producer_ratio": 0.12, "consumer_ratio": 0.34}
    return pd.DataFrame([{**base, "driver": d} for d in ("kafka-python", "confluent-kafka", "kafka-perf-test")]
                        + [{**base, "driver": "pika", "broker": "rabbitmq", "brokers": 1, "error": "broker down"}])


def test_bench_results_at_80_columns_split_into_panels_that_name_the_driver():
    console = Console(width=80, record=True, color_system=None)
    rows = result_rows(_results())
    print_table([Column(n, j) for n, j in DISPLAY_COLUMNS], rows, title="max-throughput-100b", out=console)
    text = console.export_text()
    assert max(len(line) for line in _lines(text)) <= 80
    assert "…" not in text
    for value in ("123,457", "234,568", "4,567.89", "0.34", "kafka ×3", "failed"):
        assert value in text
    for header, _ in DISPLAY_COLUMNS:
        assert header in text
    panels = text.count("max-throughput-100b (")
    assert panels >= 2 and text.count("confluent-kafka") == panels   # the driver heads every panel
