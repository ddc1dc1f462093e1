"""The queue names the app's tools aim at (a fault on a queue's leader, KEDA's trigger) are the declared ones."""

from __future__ import annotations

import uuid

import pytest

from streamlab.pipeline.declare import app_transport, declare_app, rabbit_group_queues
from streamlab.pipeline.topics import ALL_TOPICS
from streamlab.pipeline.wiring import CO_PARTITIONED_GROUPS, GROUP_TOPICS


@pytest.mark.rabbitmq
def test_rabbit_group_queues_are_the_queues_the_app_declares(rabbit_stack):
    transport = app_transport("rabbitmq", ep=rabbit_stack.endpoints)
    namespace = f"names-{uuid.uuid4().hex[:6]}"
    try:
        declared = declare_app(transport, namespace)
        named = {group: rabbit_group_queues(group, namespace) for group in GROUP_TOPICS}
        assert sorted(declared.queues) == sorted(q for queues in named.values() for q in queues)
        for group in CO_PARTITIONED_GROUPS:   # the processor reads shards, not a queue per input
            assert named[group][0] == f"{namespace}.{group}.shard-0"
    finally:
        transport.delete_topics([f"{namespace}.{spec.name}" for spec in ALL_TOPICS])
