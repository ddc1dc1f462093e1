"""The broker warm-up stops when the perf tool's rate settles or its time is up, and fails with one line."""

from __future__ import annotations

import pytest

from streamlab.bench import broker_warmup
from streamlab.bench.broker_warmup import plateau, warm_kafka
from streamlab.errors import UserError


def test_a_plateau_is_three_rounds_within_five_percent_of_their_mean_after_the_minimum():
    assert not plateau([48_000, 48_500, 49_000])                     # flat, but under the minimum of rounds
    assert plateau([31_000, 48_000, 48_500, 49_000])
    assert not plateau([30_000, 48_000, 60_000, 61_000])              # still rising: 48k is 14 % under the mean
    assert not plateau([2_534, 3_000, 4_500, 4_171])                  # a dip is not a plateau (issue 30's stop)
    assert plateau([7_255, 30_000, 47_410, 45_500, 47_000, 48_900])   # noise within ±5 % of the mean
    assert not plateau([0.0, 0.0, 0.0, 0.0])
    assert plateau([10, 20, 100, 100, 100], rounds=3, tolerance=0.0, min_rounds=5)


class FakeRole:
    def __init__(self, rate: float) -> None:
        self.records_per_s = rate


class FakeRun:
    def __init__(self, rate: float, error: str | None = None) -> None:
        self.roles = {"producer": FakeRole(rate)}
        self.error = error


class FakeBench:
    def __init__(self, run: FakeRun) -> None:
        self.runs = [("r", run)]


def fake_rates(monkeypatch, rates: list[float], error: str | None = None) -> list[dict]:
    calls: list[dict] = []

    def run_bench(workload, driver, **kw):
        calls.append({"workload": workload, "driver": driver, **kw})
        return FakeBench(FakeRun(rates[min(len(calls), len(rates)) - 1], error))

    monkeypatch.setattr(broker_warmup, "run_bench", run_bench)
    return calls


def test_rounds_run_until_the_rate_reaches_a_plateau(monkeypatch):
    calls = fake_rates(monkeypatch, [4_171, 3_900, 30_000, 58_000, 60_000, 61_000, 90_000])
    rounds = warm_kafka(600.0)
    assert [r.producer_records_per_s for r in rounds] == [4_171, 3_900, 30_000, 58_000, 60_000, 61_000]
    # Kafka's own tools on the benches' workload, nothing saved
    assert {(c["workload"], c["driver"], c["save"]) for c in calls} == {
        ("max-throughput-1kb", "kafka-perf-test", False)
    }


def test_no_round_starts_once_the_time_is_up(monkeypatch):
    calls = fake_rates(monkeypatch, [1_000, 2_000, 4_000])
    assert warm_kafka(0.0) == [] and calls == []


def test_a_failed_round_is_a_one_line_error(monkeypatch):
    fake_rates(monkeypatch, [0.0], error="KafkaException: no broker")
    with pytest.raises(UserError, match="broker warm-up: kafka-perf-test failed .*make up"):
        warm_kafka(60.0)


def test_the_rounds_are_kept_for_the_chapters(tmp_path):
    path = tmp_path / "broker-warmup.csv"
    assert broker_warmup.last_rounds(path).empty
    broker_warmup.save_rounds([broker_warmup.WarmupRound(1, 14.0, 7_255.0),
                               broker_warmup.WarmupRound(2, 28.0, 47_410.0)], path)
    rounds = broker_warmup.last_rounds(path)
    assert list(rounds["producer_records_per_s"]) == [7_255.0, 47_410.0]
    assert list(rounds["elapsed_s"]) == [14.0, 28.0] and not broker_warmup.is_warm(rounds)


def test_a_warm_up_that_ran_out_of_time_is_recorded_not_warm(tmp_path):
    path = tmp_path / "broker-warmup.csv"
    assert broker_warmup.warm_state(broker_warmup.last_rounds(path)) == "no warm-up recorded"
    rising = [broker_warmup.WarmupRound(i + 1, 15.0 * (i + 1), rate)
              for i, rate in enumerate([2_534, 5_000, 9_000, 13_464])]
    rounds = broker_warmup.last_rounds(broker_warmup.save_rounds(rising, path))
    assert not broker_warmup.is_warm(rounds)
    assert broker_warmup.warm_state(rounds) == "brokers not warm: no plateau in 60 s (4 rounds, last 13,464 records/s)"
    flat = rising + [broker_warmup.WarmupRound(5 + i, 75.0 + 15 * i, 47_000.0 + 500 * i) for i in range(3)]
    rounds = broker_warmup.last_rounds(broker_warmup.save_rounds(flat, path))
    assert broker_warmup.is_warm(rounds)
    assert broker_warmup.warm_state(rounds) == "warm: plateau at 48,000 records/s after 7 rounds"


def test_a_stack_started_without_warm_up_forgets_the_last_one(tmp_path, monkeypatch):
    path = tmp_path / "broker-warmup.csv"
    monkeypatch.setenv("STREAMLAB_WARMUP_RECORD", str(path))
    broker_warmup.save_rounds([broker_warmup.WarmupRound(1, 14.0, 7_255.0)])
    assert path.exists() and not broker_warmup.last_rounds().empty
    broker_warmup.clear_record()
    assert broker_warmup.warm_state(broker_warmup.last_rounds()) == "no warm-up recorded"
    broker_warmup.clear_record()                       # nothing to forget is fine too


def test_warm_up_zero_clears_the_record_from_the_command_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from streamlab.cli import app

    path = tmp_path / "broker-warmup.csv"
    monkeypatch.setenv("STREAMLAB_WARMUP_RECORD", str(path))
    broker_warmup.save_rounds([broker_warmup.WarmupRound(1, 14.0, 7_255.0)])
    result = CliRunner().invoke(app, ["stack", "warm-up", "--max-seconds", "0"])
    assert result.exit_code == 0, result.output
    assert not path.exists()
