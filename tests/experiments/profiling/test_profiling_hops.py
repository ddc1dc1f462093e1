"""Hop latencies come from the stage clocks in the Parquet rows; the verdict compares them with Kafka's tool."""

from __future__ import annotations

import pandas as pd
import pytest

from streamlab.experiments.profiling import hops


def health_rows(n: int = 1000) -> pd.DataFrame:
    base = 1_700_000_000_000_000_000
    src = pd.Series([base + k * 5_000_000 for k in range(n)])
    return pd.DataFrame({"source_ts_ns": src, "ts_ns": src + 3_800_000, "sink_received_ns": src + 10_000_000,
                         "sink_ts_ns": src + 500_000_000})


def test_hop_latencies_split_the_path_into_hops():
    summary = hops.hop_latencies(health_rows(), "after")
    p50 = summary[summary["metric"] == "p50_ms"].set_index("hop")["value"]
    assert p50["generator → processor"] == pytest.approx(3.8, rel=0.01)
    assert p50["processor → sink"] == pytest.approx(6.2, rel=0.01)
    assert p50["sink → on disk"] == pytest.approx(490.0, rel=0.01)
    samples = hops.hop_samples(health_rows(10), "after")
    assert set(samples.columns) == {"setting", "hop", "ms"} and len(samples) == 30


def test_against_reference_applies_the_targets():
    reference = pd.DataFrame([{"setting": "Kafka EndToEndLatency", "hop": "one hop (Java tool)", "metric": m,
                               "value": v, "records": 100} for m, v in (("p50_ms", 2.0), ("p99_ms", 3.0))])
    summary = pd.concat([hops.hop_latencies(health_rows(), "after"), reference], ignore_index=True)
    verdict = hops.against_reference(summary).set_index("hop")
    assert "sink → on disk" not in verdict.index
    assert verdict.loc["generator → processor", "p50_vs_kafka"] == pytest.approx(1.9, rel=0.01)
    assert bool(verdict.loc["generator → processor", "target_met"])
    assert not bool(verdict.loc["processor → sink", "target_met"])   # 6.2 ms is 3.1 × the tool's p50


def test_flush_shadow_finds_a_tail_that_waited_for_the_write():
    """Two files begin at 1 s and 2 s; the slow records arrive just after a write began, the rest mid-second."""
    base = 1_700_000_000_000_000_000
    rows = []
    for k in range(200):
        second = 1 + k % 2
        slow = k % 20 == 0
        received = base + second * 1_000_000_000 + (50_000_000 if slow else 500_000_000)
        rows.append({"ts_ns": received - (80_000_000 if slow else 2_000_000), "sink_received_ns": received,
                     "sink_ts_ns": base + (second + 1) * 1_000_000_000})
    rows[0]["sink_ts_ns"] = base + 1_000_000_000          # the files' write starts: 1 s, 2 s and 3 s
    rows[1]["sink_ts_ns"] = base + 2_000_000_000
    shadow = hops.flush_shadow(pd.DataFrame(rows)).set_index("records")
    assert shadow.loc["all records", "in write shadow %"] == pytest.approx(5.0)
    assert shadow.loc["slowest 5 %", "in write shadow %"] == pytest.approx(100.0)
    assert shadow.loc["slowest 1 %", "median hop ms"] == pytest.approx(80.0)
    assert shadow["files"].iloc[0] == 3


def test_the_tail_is_the_write_only_when_most_of_it_is_there():
    def shadow(everyone: float, tail: float) -> pd.DataFrame:
        return pd.DataFrame({"records": ["all records", "slowest 1 %"], "in write shadow %": [everyone, tail]})

    assert hops.tail_in_write(shadow(8.0, 90.0))
    assert not hops.tail_in_write(shadow(14.0, 0.0))
    assert not hops.tail_in_write(shadow(40.0, 60.0)), "not above the base rate"
    assert not hops.tail_in_write(shadow(10.0, 45.0)), "under half of the tail"


def loaded_rows(tool_p50: float, tool_p99: float) -> pd.DataFrame:
    tool = pd.DataFrame([{"setting": hops.LOADED_REFERENCE, "hop": "one hop (Java tool)", "metric": m, "value": v,
                          "records": 500, "under_load": True} for m, v in (("p50_ms", tool_p50), ("p99_ms", tool_p99))])
    return pd.concat([hops.hop_latencies(health_rows(), "defaults, tool alongside").assign(under_load=True), tool],
                     ignore_index=True)


def test_against_loaded_divides_each_hop_by_the_tool_of_the_same_run():
    table = hops.against_loaded(loaded_rows(2.0, 5.0)).set_index("hop")
    assert list(table.index) == ["generator → processor", "processor → sink"]
    assert table.loc["generator → processor", "tool_p50_ms"] == 2.0
    assert table.loc["generator → processor", "p50_vs_tool_loaded"] == pytest.approx(1.9, rel=0.01)
    assert table.loc["processor → sink", "p50_vs_tool_loaded"] == pytest.approx(3.1, rel=0.01)
    assert hops.tool_under_load(loaded_rows(2.0, 5.0))
    late = loaded_rows(2.0, 5.0)
    late.loc[late["setting"] == hops.LOADED_REFERENCE, "under_load"] = False
    assert not hops.tool_under_load(late)


class FakeRun:
    """An AppRun whose generators send for ``running_s`` and whose sink leaves a few health rows."""

    running_s = 0.5

    def __init__(self, config) -> None:
        self.config = config
        self.transport = type("T", (), {"delete_topics": lambda self, names: None})()

    def start(self) -> None:
        import time

        self.started = time.monotonic()

    def generators_running(self) -> bool:
        import time

        return time.monotonic() - self.started < self.running_s

    def wait_for_generators(self) -> None:
        import time

        while self.generators_running():
            time.sleep(0.01)

    def stop(self) -> None:
        (self.config.data_dir / "health").mkdir(parents=True)
        health_rows(10).to_parquet(self.config.data_dir / "health" / "part-0.parquet")


@pytest.mark.parametrize("tool_s, under_load", [(0.0, True), (1.0, False)])
def test_nominal_health_runs_a_measurement_alongside_and_says_whether_the_load_lasted(monkeypatch, tool_s, under_load):
    import time

    from streamlab.pipeline import runner

    monkeypatch.setattr(runner, "AppRun", FakeRun)

    def tool() -> pd.DataFrame:
        time.sleep(tool_s)
        return pd.DataFrame([{"setting": hops.LOADED_REFERENCE, "metric": "p50_ms", "value": 3.0}])

    health = hops.nominal_health(1.0, 2, alongside=tool, alongside_after_s=0.1)
    assert len(health) == 10
    assert bool(health.attrs["alongside"]["under_load"].iloc[0]) is under_load


def test_start_tail_finds_a_tail_made_at_the_start_of_the_run():
    """200 readings over 10 s; the first 2 s's processor hop is slow (start-up), the rest steady."""
    base = 1_700_000_000_000_000_000
    src = pd.Series([base + k * 50_000_000 for k in range(200)])
    slow = (src - base) < 2_000_000_000
    health = pd.DataFrame({"source_ts_ns": src, "ts_ns": src + slow.map({True: 400_000_000, False: 10_000_000}),
                           "sink_received_ns": src + 420_000_000, "sink_ts_ns": src + 900_000_000})
    table = hops.start_tail(health).set_index("hop")
    gen = table.loc["generator → processor"]
    assert gen["at start % of all"] == pytest.approx(20.0)
    assert gen["at start % of slowest 1 %"] == pytest.approx(100.0)
    assert gen["p99_ms"] == pytest.approx(400.0) and gen["p99_ms after the start"] == pytest.approx(10.0)
    assert "sink → on disk" not in table.index
