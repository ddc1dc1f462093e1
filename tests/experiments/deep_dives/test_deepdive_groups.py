"""Deep dive 1 on one broker: a group shares partitions; members beyond the partition count stay idle."""

from __future__ import annotations

import pytest

from streamlab.errors import UserError
from streamlab.experiments.deep_dives import consumer_groups

pytestmark = pytest.mark.kafka


def test_eight_members_on_six_partitions_leave_two_idle(kafka_stack):
    frame = consumer_groups.scaling(kafka_stack.endpoints.kafka_bootstrap, (2, 8), partitions=6, records=1200)
    summary = consumer_groups.scaling_summary(frame).set_index("consumers")
    assert summary.loc[8, "idle_members"] == 2
    assert summary.loc[2, "idle_members"] == 0
    assert (summary["records"] == 1200).all()            # every record consumed exactly once per group
    eight = frame[frame["consumers"] == 8]
    assert sorted(" ".join(eight["owned"]).split()) == [str(p) for p in range(6)]  # each partition owned once


def test_too_many_consumers_is_a_user_error():
    with pytest.raises(UserError, match="at most"):
        consumer_groups.check_sizes([1, 2, 64], partitions=6)
