"""The patterns' consumers join their groups before anything is measured or closed (no broker: fakes)."""

from __future__ import annotations

from streamlab.experiments.patterns.brokers import kafka_join


class _Consumer:
    """Gets its partitions on its `after`-th poll (never, when None)."""

    def __init__(self, after: int | None) -> None:
        self.after, self.polls = after, 0

    def assignment(self) -> list[int]:
        return [0] if self.after is not None and self.polls >= self.after else []

    def poll(self, _timeout: float) -> None:
        self.polls += 1


def test_each_consumer_is_polled_until_it_has_its_partitions():
    consumers = [_Consumer(3), _Consumer(0), _Consumer(5)]
    kafka_join(consumers)
    assert [c.polls for c in consumers] == [3, 0, 5]


def test_a_group_that_never_assigns_ends_at_the_timeout():
    stuck = _Consumer(None)
    kafka_join([stuck], timeout_s=0.05)
    assert stuck.polls >= 1 and stuck.assignment() == []
