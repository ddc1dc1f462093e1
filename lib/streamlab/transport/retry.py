"""Retrying a broker call that failed for a reason that passes: one policy, one loop, every back end.

Why it exists: a Kafka group's coordinator moves whenever the leader of its
`__consumer_offsets` partition moves: a preferred-leader election (the
controller runs one every `leader.imbalance.check.interval.seconds` when
`auto.leader.rebalance.enable` is on, the default), a broker restart, a rolling
upgrade, a reassignment. For a few hundred milliseconds the new coordinator
answers a commit with COORDINATOR_LOAD_IN_PROGRESS or NOT_COORDINATOR. Java's
`KafkaConsumer.commitSync` retries those itself until its timeout; librdkafka's
synchronous commit hands them to the caller (a full chapter 01 run crashed
on one, issue 36). So the transport retries, with a doubling backoff and a
deadline, and only errors its back end classifies as passing; anything else,
and a deadline that runs out, is a `TransportError` with one line of reason.

A call that never succeeded returns nothing and changes nothing: the caller
keeps its uncommitted state, so a commit is never counted that did not happen.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from .base import TransportError

T = TypeVar("T")
log = logging.getLogger("streamlab.transport.retry")

#: What a service's log says when a commit is retried, or refused by a rebalancing group (chapter 06 counts them).
RETRIED = "retrying in"
REFUSED = "commit refused by a rebalancing group"


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. The defaults outlast a coordinator move (a partition leader's election and
    the new coordinator loading its offsets: well under 10 s on the 3-broker stack) and stay below the
    consumer's `max.poll.interval.ms` (300 s), after which the group would give the member's partitions away."""

    first_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    deadline_s: float = 60.0

    def backoffs(self):
        """The waits between tries: first, doubled each time, capped at max."""
        wait = self.first_backoff_s
        while True:
            yield wait
            wait = min(self.max_backoff_s, wait * 2)


DEFAULT_POLICY = RetryPolicy()


def call_with_retries(call: Callable[[], T], is_retriable: Callable[[BaseException], bool], what: str,
                      policy: RetryPolicy = DEFAULT_POLICY, *, sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic,
                      on_retry: Callable[[BaseException], None] | None = None) -> T:
    """`call()`'s result; a retriable failure is tried again after a backoff until `policy.deadline_s`.

    `what` names the call in the one-line error ("commit offsets"). `on_retry` sees each retried error (a
    service counts them). Errors `is_retriable` rejects propagate unchanged: their back end knows best how
    to word them; a deadline that runs out becomes a `TransportError` naming the last error."""
    deadline = clock() + policy.deadline_s
    tries = 0
    for wait in policy.backoffs():
        tries += 1
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 -- classified just below; the rest propagates unchanged
            if not is_retriable(exc):
                raise
            if clock() + wait > deadline:
                raise TransportError(f"{what} still failing after {tries} tries in {policy.deadline_s:.0f} s: "
                                     f"{one_line(exc)}; is the cluster healthy? (`streamlab topics`)") from None
            if on_retry is not None:
                on_retry(exc)
            log.warning("%s failed (%s); %s %.2f s", what, one_line(exc), RETRIED, wait)
            sleep(wait)
    raise AssertionError("unreachable: backoffs() never ends")


def one_line(exc: BaseException) -> str:
    """An exception as one short line (librdkafka's KafkaError prints as a dict-like repr)."""
    error = exc.args[0] if exc.args else exc
    text = error.str() if hasattr(error, "str") and callable(error.str) else str(error)
    return " ".join(str(text).split())[:300] or type(exc).__name__


def log_refused(exc: BaseException) -> None:
    """A commit the group refused during a rebalance: kept for the next commit, said once in the log."""
    log.warning("%s (%s): the offsets stay pending for the next commit", REFUSED, one_line(exc))
