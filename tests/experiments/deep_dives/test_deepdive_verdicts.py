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


def test_cost_verdict_reads_ranking_and_idempotence_from_the_table():
    import pandas as pd

    from streamlab.experiments.deep_dives import replication

    def frame(off_rate: float) -> pd.DataFrame:
        rows = []
        for s in replication.COST_SETTINGS:
            base = (
                off_rate if (s.acks == "all" and not s.idempotence) else {"0": 900.0, "1": 1000.0, "all": 500.0}[s.acks]
            )
            rows += [{"setting": s.label, "records_per_s": base + i, "ack_p50_ms": 2.0 + i, "ack_p99_ms": 9.0 + i,
                      "acks": s.acks, "idempotence": s.idempotence} for i in range(3)]
        return pd.DataFrame(rows)

    same = replication.cost_verdict(frame(500.0))
    assert same.index("RF 1, acks=1") < same.index("RF 1, acks=0")        # ranked by the table, acks=0 not first
    assert "no difference this run can tell" in replication.idempotence_verdict(frame(500.0))
    assert "larger than the runs' spread" in replication.idempotence_verdict(frame(800.0))
