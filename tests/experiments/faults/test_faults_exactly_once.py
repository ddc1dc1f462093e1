"""Kafka transactions as the exactly-once variant: the processor killed at its crash points leaves no duplicate
on its output topics (read_committed), where at-least-once does; nothing lost, nothing duplicated on disk.

Cost: about 20 s per live run (three runs)."""

from __future__ import annotations

import pandas as pd
import pytest

from streamlab.errors import UserError
from streamlab.experiments.faults import exactly_once, scenarios
from streamlab.transport import kafka_transactions

pytestmark = pytest.mark.kafka


def _run(name: str, kafka_stack, tmp_path):
    return scenarios.run_scenario(scenarios.SCENARIOS[name], "kafka", tmp_path / name,
                                  env={"KAFKA_BOOTSTRAP": kafka_stack.endpoints.kafka_bootstrap},
                                  duration_s=6.0, machines=3)


def _assert_clean_kill(result) -> None:
    events = result.events["event"]
    assert "health-processor killed" in set(events), result.events      # the crash point was really reached
    assert not events.str.endswith(" failed").any(), result.events
    assert all(code in (0, -9) for code in result.exit_codes.values()), result.exit_codes


@pytest.mark.parametrize("name", ["processor-after-publish-eos", "processor-mid-batch-eos"])
def test_a_transactional_processor_killed_leaves_no_duplicate_on_its_topics_nor_on_disk(name, kafka_stack, tmp_path):
    result = _run(name, kafka_stack, tmp_path)
    _assert_clean_kill(result)
    parquet = result.rows.set_index("sink").loc["Parquet"]
    assert parquet["sent"] > 0 and parquet["on_disk"] == parquet["sent"], parquet.to_dict()   # counts, not a rate
    for sink, row in result.rows.set_index("sink").iterrows():
        assert (row["lost"], row["duplicated"], row["topic_duplicated"]) == (0, 0, 0), (sink, row.to_dict())


def test_at_least_once_duplicates_on_the_topic_what_the_sinks_then_drop(kafka_stack, tmp_path):
    """The contrast that gives the test above its power: the same kill without transactions republishes."""
    result = _run("processor-after-publish", kafka_stack, tmp_path)
    _assert_clean_kill(result)
    parquet = result.rows.set_index("sink").loc["Parquet"]
    assert parquet["topic_duplicated"] > 0 and (parquet["lost"], parquet["duplicated"]) == (0, 0), parquet.to_dict()


def test_transactions_are_refused_where_they_do_not_exist():
    with pytest.raises(UserError, match="kafka --client confluent"):
        kafka_transactions.producer_options("rabbitmq", "pika", "g", "i")
    assert kafka_transactions.producer_options("kafka", "confluent", "ns.g", "p1") == {"transactional_id": "ns.g.p1"}


def test_the_cost_table_and_verdict_read_both_modes():
    rates = pd.DataFrame({"mode": ["at-least-once", "exactly-once"], "round": [0, 0],
                          "records_per_s": [1000.0, 800.0], "cpu_us_per_record": [1.0, 1.2]})
    latency = pd.DataFrame({"mode": ["at-least-once"] * 2 + ["exactly-once"] * 2,
                            "hop": ["processor → sink"] * 4, "metric": ["p50_ms", "p99_ms"] * 2,
                            "value": [10.0, 50.0, 60.0, 120.0], "records": 100})
    table = exactly_once.cost_table(rates, latency)
    assert list(table.index) == ["at-least-once", "exactly-once"]
    assert table.loc["exactly-once", "processor → sink p99 (ms)"] == 120.0
    verdict = exactly_once.cost_verdict(table)
    assert "800 records/s against 1,000" in verdict and "(80%)" in verdict and "60 ms at p50" in verdict


def test_no_records_in_the_timed_rounds_is_no_rate_not_nan_percent():
    rates = pd.DataFrame({"mode": ["at-least-once", "exactly-once"], "round": [0, 0],
                          "records_per_s": [0.0, 0.0], "cpu_us_per_record": [1.0, 1.2]})
    verdict = exactly_once.cost_verdict(exactly_once.cost_table(rates, pd.DataFrame()))
    assert "not measured" in verdict and "nan" not in verdict
