"""The deep dives' verdict sentences, which the chapter's prose quotes as they are."""

import pandas as pd

from streamlab.experiments.deep_dives import common, offsets, retries


def test_two_sided_leaves_out_an_empty_side():
    assert common.two_sided("bad", ["a", "b"], "good", []) == "bad: a, b"
    assert common.two_sided("bad", [], "good", ["c"]) == "good: c"
    assert common.two_sided("bad", ["a"], "good", ["c"], items="; ", sides=" — ") == "bad: a — good: c"


def test_crash_verdict_names_the_modes_that_lost():
    frame = pd.DataFrame({"mode": list(offsets.MODES), "lost": [3] + [0] * (len(offsets.MODES) - 1)})
    assert offsets.crash_verdict(frame).startswith(f"lost records: {offsets.MODES[0]}; lost none:")


def test_producer_verdict_separates_harmed_settings():
    frame = pd.DataFrame({"setting": ["a", "b", "c"], "duplicates": [1, 0, 0], "reordered": [0, 0, 2]})
    assert retries.producer_verdict(frame) == ("duplicated or reordered records: a; c"
                                               " — neither duplicated nor reordered: b")


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
