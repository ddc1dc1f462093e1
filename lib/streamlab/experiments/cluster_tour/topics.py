"""The tour's topics, and the admin calls the tour makes on them (through the one Kafka admin factory).

Changing ``min.insync.replicas`` live, asking for a preferred leader election,
and asking which broker coordinates a consumer group: each is one admin
request, waited for with a bound.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from ...errors import UserError
from ...polling import holds_within
from ...transport.kafka_admin import admin_client
from ...transport.spec import TopicSpec

if TYPE_CHECKING:
    import pandas as pd


def tour_topics(prefix: str, partitions: int = 6, min_insync: int = 2) -> dict[str, TopicSpec]:
    """The tour's topics under a fresh name: replicated (RF 3), unreplicated (RF 1), and a probe topic."""
    suffix = uuid.uuid4().hex[:6]
    config = {"min.insync.replicas": str(min_insync)}
    return {
        "rf3": TopicSpec(f"{prefix}-rf3-{suffix}", "raw", partitions, 3, config,
                         "replicated 3 times, writes need 2 in-sync copies"),
        "rf1": TopicSpec(f"{prefix}-rf1-{suffix}", "raw", partitions, 1, {},
                         "a single copy: no replication"),
        "probe": TopicSpec(f"{prefix}-probe-{suffix}", "raw", 3, 3, config,
                           "replicated 3 times; its min.insync.replicas is changed live"),
    }


def set_topic_config(bootstrap: str, topic: str, settings: Mapping[str, str], timeout_s: float = 15.0) -> None:
    """Change topic settings live (IncrementalAlterConfigs) and wait until the cluster reports them."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    admin = admin_client(bootstrap)
    entries = [ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET) for k, v in settings.items()]
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource], request_timeout=timeout_s).values():
        future.result(timeout=timeout_s)

    def applied() -> bool:
        described = topic_config(bootstrap, topic, list(settings))
        return all(described.get(k) == str(v) for k, v in settings.items())

    if not holds_within(applied, timeout_s, 0.2):
        raise UserError(f"topic {topic!r} does not report {dict(settings)} after {timeout_s:.0f}s")


def topic_config(bootstrap: str, topic: str, names: Sequence[str]) -> dict[str, str]:
    """Current values of some settings of one topic, as the cluster reports them."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    admin = admin_client(bootstrap)
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=10)
    return {name: entries[name].value for name in names if name in entries}


def group_coordinator(bootstrap: str, group: str, timeout_s: float = 10.0) -> int | None:
    """The broker acting as a consumer group's coordinator (None if the cluster does not say)."""
    admin = admin_client(bootstrap)  # keep a reference: a future dies with its client
    try:
        futures = admin.describe_consumer_groups([group], request_timeout=timeout_s)
        return int(futures[group].result(timeout=timeout_s).coordinator.id)
    except Exception:  # noqa: BLE001 - no coordinator known (yet) is an answer
        return None


def elect_preferred_leaders(bootstrap: str, topic: str, partitions: int, timeout_s: float = 15.0) -> int:
    """Move leadership back to each partition's preferred (first) replica; returns how many moved.

    After a broker returns, it follows for every partition: Kafka moves
    leaders back only on its periodic imbalance check (5 minutes by default)
    or when asked, as here (what ``kafka-leader-election --election-type
    PREFERRED`` does).
    """
    from confluent_kafka import ElectionType, TopicPartition

    admin = admin_client(bootstrap)
    # no keyword arguments: confluent-kafka 2.16 raises SystemError for request_timeout/operation_timeout here
    future = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, p) for p in range(partitions)])
    results = future.result(timeout=timeout_s)
    return sum(1 for error in results.values() if error is None)


def topics_table(topics: Mapping[str, TopicSpec]) -> pd.DataFrame:
    """The tour's topics: partitions, replication factor, settings and role."""
    import pandas as pd

    return pd.DataFrame([{"topic": s.name, "partitions": s.partitions, "replication factor": s.replication,
                          "settings": ", ".join(f"{k}={v}" for k, v in s.config.items()) or "(defaults)",
                          "role in the tour": s.purpose} for s in topics.values()]).set_index("topic")


def partition_layout(layout: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """`explorer.describe_topics` for some topics, replica lists as text: what Kafdrop shows per topic."""
    mine = layout[layout["topic"].isin(list(names))].reset_index(drop=True)

    def as_text(ids: Sequence[int]) -> str:
        return ", ".join(map(str, ids))

    return mine.assign(replicas=mine["replicas"].map(as_text), isr=mine["isr"].map(as_text))


def messages_table(messages: Sequence[object], preview: Callable[[bytes], str]) -> pd.DataFrame:
    """Messages read back (`explorer.tail`) as Kafdrop's message view shows them."""
    import pandas as pd

    return pd.DataFrame([{"partition": m.partition, "offset": m.offset, "key": m.key.decode() if m.key else None,
                          "value": preview(m.value)} for m in messages]).set_index(["partition", "offset"])


def sample_readings(count: int = 12, machines: int = 4) -> list[tuple[str, bytes]]:
    """A few keyed JSON readings to send by hand: (machine key, value)."""
    import json

    return [(f"m-{i % machines + 1:02d}", json.dumps({"machine": f"m-{i % machines + 1:02d}", "reading": i,
                                                       "temperature_c": 40 + i % 5}).encode()) for i in range(count)]
