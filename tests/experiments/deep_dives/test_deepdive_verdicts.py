"""The deep dives' verdicts: facts (names, booleans) read from each experiment's table, which the prose says."""

import pandas as pd

from streamlab.experiments.deep_dives import limits, offsets, rebalance, replication, retries, streams


def test_losing_modes_names_the_modes_that_lost_at_any_crash_point_in_mode_order():
    frame = pd.DataFrame({"mode": [offsets.MODES[1], offsets.MODES[0], offsets.MODES[0]], "lost": [0, 0, 3]})
    assert offsets.losing_modes(frame) == [offsets.MODES[0]]
    assert offsets.losing_modes(frame.assign(lost=0)) == []


def test_harmed_settings_are_those_that_duplicated_or_reordered():
    frame = pd.DataFrame({"setting": ["a", "b", "c"], "duplicates": [1, 0, 0], "reordered": [0, 0, 2]})
    assert retries.harmed_settings(frame) == ["a", "c"]


def test_losing_settings_are_those_with_an_acknowledged_record_lost():
    frame = pd.DataFrame({"setting": ["RF 1", "RF 3, acks=1", "RF 3, acks=all"], "lost_acknowledged": [5, 1, 0]})
    assert replication.losing_settings(frame) == ["RF 1", "RF 3, acks=1"]


def test_stop_the_world_names_the_protocols_that_revoked_kept_partitions():
    frame = pd.DataFrame({"protocol": ["eager", "cooperative-sticky"], "kept_partitions_revoked": [4, 0]})
    assert rebalance.stop_the_world(frame) == ["eager"]


def test_inexact_names_every_way_with_a_missing_extra_doubled_or_differing_window():
    check = pd.DataFrame({"implementation": ["a", "b", "c", "d", "e"], "missing": [0, 1, 0, 0, 0],
                          "extra": [0, 0, 1, 0, 0], "duplicates": [0, 0, 0, 1, 0], "differing": [0, 0, 0, 0, 1]})
    assert streams.inexact(check) == ["b", "c", "d", "e"]


def test_client_behind_reads_the_bare_clients_ratio_to_the_java_tool():
    def reads(floor: float) -> pd.DataFrame:
        return pd.DataFrame({"path": [limits.JAVA_READ, "consume(1000), count only"], "ratio_to_java": [1.0, floor]})

    assert limits.client_behind(reads(0.5)) is True
    assert limits.client_behind(reads(limits.CLIENT_BEHIND)) is False
    assert limits.client_behind(reads(float("nan"))) is None
    assert limits.client_behind(reads(0.5).iloc[:1]) is None


def test_incomplete_paths_are_the_paths_that_missed_a_record():
    frame = pd.DataFrame({"path": ["x", "y"], "complete": [True, False]})
    assert limits.incomplete_paths(frame) == ["y"]


def _costs(off_rate: float, runs: int = 3) -> pd.DataFrame:
    """A cost table: acks=0 900/s, acks=1 1000/s, acks=all 500/s, idempotence off `off_rate`; runs 1 apart."""
    rows = []
    for s in replication.COST_SETTINGS:
        base = off_rate if (s.acks == "all" and not s.idempotence) else {"0": 900.0, "1": 1000.0, "all": 500.0}[s.acks]
        rows += [{"setting": s.label, "records_per_s": base + i, "ack_p50_ms": 2.0 + i, "ack_p99_ms": 9.0 + i,
                  "acks": s.acks, "idempotence": s.idempotence} for i in range(runs)]
    return pd.DataFrame(rows)


def test_cost_comparisons_read_ratios_and_separation_from_the_table():
    compared = replication.cost_comparisons(_costs(800.0)).set_index("comparison")
    acks = compared.loc["acks=all vs acks=1"]
    assert acks["runs"] == 3 and acks["throughput_ratio"] == 501.0 / 1001.0 and acks["throughput_separated"]
    assert acks["p50_ratio"] == 1.0 and not acks["p50_separated"]
    idem = compared.loc["idempotence on vs off"]
    assert idem["throughput_ratio"] == 501.0 / 801.0 and idem["throughput_separated"]
    same = replication.cost_comparisons(_costs(500.0)).set_index("comparison").loc["idempotence on vs off"]
    assert same["throughput_ratio"] == 1.0 and not same["throughput_separated"]


def test_a_comparison_whose_settings_did_not_both_run_has_no_row():
    costs = _costs(800.0)
    off = replication.Setting(3, "all", 2, idempotent=False).label
    assert replication.cost_comparisons(costs[costs["setting"] != off])["comparison"].tolist() == ["acks=all vs acks=1"]


def test_fastest_is_the_highest_median_throughput():
    assert replication.fastest(_costs(800.0)) == replication.Setting(1, "1").label
    assert replication.fastest(_costs(2000.0)) == replication.Setting(3, "all", 2, idempotent=False).label


def test_separation_says_spread_or_no_conclusion():
    compared = replication.cost_comparisons(_costs(800.0)).set_index("comparison")
    assert replication.separation(compared.loc["idempotence on vs off"]) == "larger than the runs' spread"
    same = replication.cost_comparisons(_costs(500.0)).set_index("comparison")
    assert replication.separation(same.loc["idempotence on vs off"]) == "within the runs' spread"
    once = replication.cost_comparisons(_costs(800.0, runs=1)).set_index("comparison")
    assert replication.separation(once.loc["idempotence on vs off"]) == (
        "no conclusion: the comparison has 1 repetition on one side, under the minimum of 3")
