"""Deep dive 1, rebalances, on one broker: what each protocol revokes, and how long a dead member is missed."""

from __future__ import annotations

import pytest

from streamlab.errors import UserError
from streamlab.experiments.deep_dives import rebalance


@pytest.mark.kafka
def test_cooperative_protocols_keep_the_partitions_of_surviving_members(kafka_stack):
    frame = rebalance.pause(kafka_stack.endpoints.kafka_bootstrap, partitions=4, members=2,
                            rate_per_s=200, hold_s=0.5).set_index("protocol")
    assert frame["settled"].all()
    assert (frame["partitions_moved"] >= 1).all()               # the newcomer took something from the others
    assert frame.loc["eager", "kept_partitions_revoked"] > 0    # stop the world: kept partitions were revoked too
    assert frame.loc["cooperative-sticky", "kept_partitions_revoked"] == 0
    assert frame.loc["consumer (KIP-848)", "kept_partitions_revoked"] == 0


@pytest.mark.kafka
def test_a_killed_member_is_missed_until_its_session_times_out(kafka_stack):
    frame = rebalance.member_failure(kafka_stack.endpoints.kafka_bootstrap, session_timeout_ms=6000,
                                     rate_per_s=200).set_index("ending")
    assert frame[["reassigned", "served"]].all().all()
    assert frame.loc["killed", "seconds_until_reassigned"] >= 5.0       # nobody notices before the session ends
    assert frame.loc["graceful leave", "seconds_until_reassigned"] < frame.loc["killed", "seconds_until_reassigned"]


def test_bad_rebalance_parameters_are_user_errors():
    with pytest.raises(UserError, match="fewer members"):
        rebalance.pause("127.0.0.1:1", members=6, partitions=6)
    with pytest.raises(UserError, match="unknown rebalance protocol"):
        rebalance.pause("127.0.0.1:1", protocols=("roundrobin",))
    with pytest.raises(UserError, match="session_timeout_ms"):
        rebalance.member_failure("127.0.0.1:1", session_timeout_ms=1000)
