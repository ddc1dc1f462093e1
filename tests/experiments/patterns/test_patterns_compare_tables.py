"""Chapter 03's pattern comparison shown as one table per experiment, each with its own metrics (no broker)."""

from __future__ import annotations

import pandas as pd

from streamlab.experiments.patterns import compare


def test_each_experiment_gets_a_table_of_only_its_metrics() -> None:
    rows = [("replay", "Kafka", "topic (log)", "second_read", 200.0),
            ("replay", "RabbitMQ", "quorum queue", "second_read", 0.0),
            ("fanout", "Kafka", "4 groups", "copies_held", 1.0),
            ("fanout", "Kafka", "4 groups", "broker_cpu_s", 0.5)]
    tables = compare.per_experiment(pd.DataFrame(rows, columns=compare.COLUMNS))
    assert list(tables) == ["replay", "fanout"]
    assert list(tables["replay"].columns) == ["second_read"]
    assert sorted(tables["fanout"].columns) == ["broker_cpu_s", "copies_held"]
    assert tables["replay"].loc[("RabbitMQ", "quorum queue"), "second_read"] == 0
