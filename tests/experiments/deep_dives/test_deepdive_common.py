"""The deep dives' metadata reads: a broker that does not know a new topic yet is asked again (no broker)."""

from __future__ import annotations

from types import SimpleNamespace

from streamlab.experiments.deep_dives import common


def test_a_topic_without_partitions_yet_is_asked_again(monkeypatch):
    answers = [{}, {}, {0: SimpleNamespace(leader=2, replicas=[2, 1], isrs=[1, 2])}]

    class Admin:
        def list_topics(self, topic, timeout):
            return SimpleNamespace(topics={topic: SimpleNamespace(partitions=answers.pop(0))})

    monkeypatch.setattr(common.kafka_admin, "admin_client", lambda bootstrap: Admin())
    assert common.partition_leaders("127.0.0.1:1", "t") == {0: 2}
    assert answers == []                                       # the two empty answers were not taken as the topic
