"""Deep dive 5 on one broker: commit-after-write loses nothing after SIGKILL; seeking by time is exact."""

from __future__ import annotations

import pytest

from streamlab.errors import UserError
from streamlab.experiments.deep_dives import offsets

pytestmark = pytest.mark.kafka


def test_commit_after_write_loses_nothing_after_sigkill_and_auto_commit_loses_a_batch(kafka_stack):
    frame = offsets.crash_matrix(kafka_stack.endpoints.kafka_bootstrap, records=1000, batch=100, crash_at_batch=3)
    assert frame["killed_by_sigkill"].all()                      # every first run died by SIGKILL
    by = frame.set_index(["mode", "crash_point"])
    before, after = offsets.CRASH_POINTS
    assert by.xs("commit-after-write")["lost"].eq(0).all()      # at either crash point
    assert by.loc[("commit-after-write", before), "duplicates"] == 0
    assert 0 < by.loc[("commit-after-write", after), "duplicates"] <= 100  # at most the one batch
    assert by.loc[("auto-commit", before), "lost"] > 0          # read, committed, never written


def test_seek_reset_and_warm_reprocessing_agree_with_the_first_run(kafka_stack):
    seek, reset, _, summary = offsets.replay(kafka_stack.endpoints.kafka_bootstrap, machines=4, history_s=12,
                                             seconds_back=6)
    assert seek["records_read"].sum() == seek.attrs["expected"] and seek["older_than_since"].sum() == 0
    assert reset["agree"].all()                                 # kafka-consumer-groups == offsets_for_times
    assert (reset["committed_after_tool"] < reset["committed_before"]).all()
    cold, warm = summary.iloc[0], summary.iloc[1]
    assert warm["matched"] == warm["first_output"] == 4 * 60 and warm["differing"] == 0
    assert cold["differing"] > 0                                 # the rolling window starts empty


def test_bad_offsets_parameters_are_user_errors(kafka_stack):
    with pytest.raises(UserError, match="crash_at_batch"):
        offsets.crash_matrix(kafka_stack.endpoints.kafka_bootstrap, records=100, batch=100)
    with pytest.raises(UserError, match="seconds_back"):
        offsets.replay(kafka_stack.endpoints.kafka_bootstrap, history_s=10, seconds_back=20)
