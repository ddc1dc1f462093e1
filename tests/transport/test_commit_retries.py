"""Commits that meet a moved or loading group coordinator (issue 36): retried, refused, or fatal — never
counted when they did not happen. The native clients are replaced by scripted ones; no broker is needed."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streamlab.services.common import Metrics, ServiceOptions, count_commit
from streamlab.transport.base import TransportError
from streamlab.transport.kafka_confluent import ConfluentConsumer
from streamlab.transport.kafka_python import KafkaPythonConsumer
from streamlab.transport.retry import RetryPolicy, call_with_retries


class ScriptedNative:
    """A confluent_kafka.Consumer whose commit raises the scripted errors in turn, then succeeds."""

    def __init__(self, *errors: int, assigned=(("t", 0), ("t", 1))) -> None:
        self.errors = list(errors)
        self.assigned = [TopicPartition(t, p) for t, p in assigned]
        self.committed: list[list[tuple[str, int, int]]] = []
        self.tries = 0

    def assignment(self):
        return self.assigned

    def commit(self, offsets, asynchronous):
        self.tries += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        self.committed.append(sorted((tp.topic, tp.partition, tp.offset) for tp in offsets))


def confluent_consumer(native: ScriptedNative, pending: dict) -> ConfluentConsumer:
    """A ConfluentConsumer around a scripted native client (no librdkafka instance is made)."""
    consumer = ConfluentConsumer.__new__(ConfluentConsumer)
    consumer._consumer, consumer._pending = native, dict(pending)
    consumer.commit_retries = consumer.commits_deferred = 0
    return consumer


def test_a_commit_meeting_a_loading_coordinator_is_retried_and_succeeds():
    native = ScriptedNative(KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.NOT_COORDINATOR)
    consumer = confluent_consumer(native, {("t", 0): 41, ("t", 1): 9})
    assert consumer.commit() is True
    assert native.tries == 3 and consumer.commit_retries == 2
    assert native.committed == [[("t", 0, 42), ("t", 1, 10)]]       # the same offsets, once they went through
    assert consumer.uncommitted_offsets() == []


def test_a_non_retriable_commit_error_is_one_line_and_nothing_is_counted():
    native = ScriptedNative(KafkaError.GROUP_AUTHORIZATION_FAILED)
    consumer = confluent_consumer(native, {("t", 0): 41})
    with pytest.raises(TransportError) as caught:
        consumer.commit()
    assert native.tries == 1
    assert "\n" not in str(caught.value) and "Group authorization failed" in str(caught.value)
    assert [(tp.topic, tp.partition, tp.offset) for tp in consumer.uncommitted_offsets()] == [("t", 0, 42)]


def test_a_commit_refused_in_a_rebalance_stays_pending_for_the_next():
    native = ScriptedNative(KafkaError.REBALANCE_IN_PROGRESS)
    consumer = confluent_consumer(native, {("t", 0): 41})
    assert consumer.commit() is False and consumer.commits_deferred == 1
    assert len(consumer.uncommitted_offsets()) == 1                 # not counted as done
    assert consumer.commit() is True and native.committed == [[("t", 0, 42)]]


def test_offsets_of_a_partition_given_away_are_not_committed_by_the_old_owner():
    native = ScriptedNative(assigned=[("t", 1)])
    consumer = confluent_consumer(native, {("t", 0): 41, ("t", 1): 9})
    assert consumer.commit() is True and native.committed == [[("t", 1, 10)]]


def test_a_retriable_error_that_outlasts_the_deadline_is_a_transport_error():
    clock = [0.0]
    calls = []

    def failing():
        calls.append(clock[0])
        raise KafkaException(KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE))

    with pytest.raises(TransportError, match=r"commit offsets still failing after \d+ tries in 5 s: .*Coordinator"):
        call_with_retries(failing, lambda exc: True, "commit offsets", RetryPolicy(0.5, 2.0, 5.0),
                          sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    assert calls == [0.0, 0.5, 1.5, 3.5]                             # 0.5, 1, 2 s backoffs: doubling, capped


def test_kafka_python_commit_retries_its_retriable_errors_and_defers_a_rebalance():
    from kafka.errors import CommitFailedError, CoordinatorLoadInProgressError

    class Native:
        def __init__(self, *errors):
            self.errors, self.tries = list(errors), 0

        def commit(self):
            self.tries += 1
            if self.errors:
                raise self.errors.pop(0)

    consumer = KafkaPythonConsumer.__new__(KafkaPythonConsumer)
    consumer._consumer, consumer._uncommitted = Native(CoordinatorLoadInProgressError()), True
    consumer.commit_retries = consumer.commits_deferred = 0
    assert consumer.commit() is True and consumer._consumer.tries == 2 and consumer.commit_retries == 1
    consumer._consumer, consumer._uncommitted = Native(CommitFailedError("rebalanced")), True
    assert consumer.commit() is False and consumer._uncommitted is True


def test_a_refused_commit_is_not_counted_by_the_service(tmp_path):
    options = ServiceOptions(data_dir=tmp_path, instance="test-sink")
    metrics = Metrics(options, logging.getLogger("test"))
    count_commit(metrics, confluent_consumer(ScriptedNative(), {}), True)
    count_commit(metrics, confluent_consumer(ScriptedNative(), {}), False)
    metrics.close()
    assert metrics.counters == {"commits": 1, "commits_refused": 1}

