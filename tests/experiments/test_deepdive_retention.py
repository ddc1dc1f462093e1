"""Deep dive 6 on one broker: retention deletes whole segments; compaction keeps one record per key."""

from __future__ import annotations

import pytest

from streamlab.errors import UserError
from streamlab.experiments.deepdives import retention

pytestmark = pytest.mark.kafka


def test_time_retention_deletes_segment_files(kafka_stack):
    kafka = kafka_stack.part("kafka")
    files, summary = retention.segments(kafka, kafka_stack.endpoints.kafka_bootstrap, seconds=9, rate_per_s=400,
                                        segment_ms=1000, retention_ms=3000)
    time_policy = summary[summary["policy"].str.startswith("time")].iloc[0]
    assert time_policy["segments_deleted"] > 0 and time_policy["log_start_offset_at_end"] > 0
    assert len(files) and (files["bytes"] >= 0).all()
    mine = files[files["policy"] == time_policy["policy"]]
    final = mine[mine["t_s"] == mine["t_s"].max()]
    # deletion takes whole segments from the head of the log: every segment deleted is older than all left
    gone = set(mine["segment"]) - set(final["segment"])
    assert gone and max(gone) < int(final["segment"].min()), (sorted(gone), final.to_string())


def test_compaction_keeps_one_record_per_key_and_rebuilds_the_latest_state(kafka_stack):
    timeline, rebuilt = retention.compaction(kafka_stack.endpoints.kafka_bootstrap, machines=10, updates=20,
                                             decommissioned=2, ratios=(0.1,), watch_s=2)
    cleaned = timeline[timeline["phase"] == "cleaning"].iloc[-1]
    assert cleaned["records_in_log"] <= 10 + 1                  # one per key (+ the active segment's record)
    row = rebuilt.iloc[0]
    assert row["state_identical"] and row["machines_rebuilt"] == 8 and row["records_read"] < row["records_written"]


def test_bad_retention_parameters_are_user_errors(kafka_stack):
    with pytest.raises(UserError, match="segment.bytes"):
        retention.segments(kafka_stack.part("kafka"), kafka_stack.endpoints.kafka_bootstrap, segment_bytes=1000)
