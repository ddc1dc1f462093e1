"""Kafka transactions as the exactly-once variant: the processor killed at its crash points leaves no duplicate
on its output topics (read_committed), where at-least-once does; nothing lost, nothing duplicated on disk.

Cost: about 20 s per live run (three runs)."""

from __future__ import annotations

import math

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


def _rates(alo: list[float], eos: list[float], seconds: float = 3.0, messages: int = 60_000) -> pd.DataFrame:
    rows = [{"mode": mode, "round": i, "records_per_s": rate, "seconds": seconds, "messages": messages,
             "cpu_us_per_record": 1.0}
            for mode, rates in (("at-least-once", alo), ("exactly-once", eos)) for i, rate in enumerate(rates)]
    return pd.DataFrame(rows)


LATENCY = pd.DataFrame({"mode": ["at-least-once"] * 2 + ["exactly-once"] * 2,
                        "hop": ["processor → sink"] * 4, "metric": ["p50_ms", "p99_ms"] * 2,
                        "value": [10.0, 50.0, 60.0, 120.0], "records": 100})


def test_the_cost_table_and_verdict_read_both_modes():
    rates = _rates([1000.0, 1100.0, 900.0], [800.0, 790.0, 810.0])
    table = exactly_once.cost_table(rates, LATENCY)
    assert list(table.index) == ["at-least-once", "exactly-once"]
    assert table.loc["exactly-once", "processor → sink p99 (ms)"] == 120.0
    assert table.loc["at-least-once", "records/s sd"] == 100.0 and table.loc["exactly-once", "rounds"] == 3
    busy = exactly_once.cost_table(rates.assign(machine_busy=[True, False, False, False, False, True]), LATENCY)
    assert busy["rounds on a busy machine"].tolist() == [1, 1]
    facts = exactly_once.cost_facts(table, rates)
    assert (facts["eos_rate"], facts["eos_sd"], facts["alo_rate"], facts["alo_sd"]) == (800.0, 10.0, 1000.0, 100.0)
    assert facts["ratio"] == 0.8 and facts["rounds"] == 3 and facts["verdict"] == "apart"
    assert (facts["eos_p50"], facts["eos_p99"], facts["alo_p50"], facts["alo_p99"]) == (60.0, 120.0, 10.0, 50.0)


def test_overlapping_modes_are_called_noise():
    rates = _rates([1000.0, 1100.0, 900.0], [950.0, 1050.0, 1000.0])
    assert exactly_once.cost_facts(exactly_once.cost_table(rates, LATENCY), rates)["verdict"] == "within noise"


def test_one_round_is_no_conclusion():
    rates = _rates([1000.0], [800.0])
    verdict = exactly_once.cost_facts(exactly_once.cost_table(rates, LATENCY), rates)["verdict"]
    assert verdict == "no conclusion: the comparison has 1 repetition on one side, under the minimum of 3"


def test_runs_too_short_for_the_metrics_tick_are_no_conclusion():
    # quick's old 2,000 readings: through in one 0.25-s tick, "0.0 / 0.0 records/s (nan %)"
    rates = _rates([0.0] * 3, [0.0] * 3, seconds=0.0, messages=2000)
    verdict = exactly_once.cost_facts(exactly_once.cost_table(rates, LATENCY), rates)["verdict"]
    assert verdict.startswith("no conclusion: at-least-once, round 0: the run has no measured duration")
    short = _rates([20_000.0] * 3, [18_000.0] * 3, seconds=1.0, messages=20_000)
    short_facts = exactly_once.cost_facts(exactly_once.cost_table(short, LATENCY), short)
    assert "under 10× its 0.25-s tick" in short_facts["verdict"]


def test_a_missing_mode_is_not_measured():
    rates = _rates([1000.0, 1000.0, 1000.0], [])
    facts = exactly_once.cost_facts(exactly_once.cost_table(rates, LATENCY.iloc[:2]), rates)
    assert facts["verdict"] == "not measured" and math.isnan(facts["eos_rate"])
