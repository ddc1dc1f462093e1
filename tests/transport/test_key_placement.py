"""Keys land where Kafka's own Java producer puts them, from both Python clients of the application.

Java's producer, Kafka Streams and `kafka-console-producer` place a keyed record in partition
`(murmur2(key) & 0x7fffffff) % partitions`; librdkafka's default partitioner hashes with CRC32
instead. A Python service and a Java (or Streams) reader that disagree on the partition of a
machine's key split its records between partitions, and per-key order and co-partitioning are gone.
So the same few hundred keys are written by the Java console producer and by each Python client
through the application's own publisher, and read back: not one key may sit elsewhere.
"""

from __future__ import annotations

import subprocess

import pytest

from streamlab.bench.drivers.kafka_java_tools import java_command, require_jars
from streamlab.experiments.deep_dives.common import read_all
from streamlab.transport import get_transport
from streamlab.transport.spec import TopicSpec

pytestmark = pytest.mark.kafka

KEYS = [f"M{i:04d}" for i in range(300)] + [f"pump-{i}/line-{i % 7}" for i in range(60)]
PARTITIONS = 12


def _placement(bootstrap: str, topic: str) -> dict[str, int]:
    return {r.key.decode(): r.partition for r in read_all(bootstrap, topic)}


def _java_placement(bootstrap: str, topic: str) -> dict[str, int]:
    require_jars("kafka", "kafka-tools")
    lines = "".join(f"{key}\t{key}\n" for key in KEYS)
    command = java_command("kafka", "org.apache.kafka.tools.ConsoleProducer",
                           ["--bootstrap-server", bootstrap, "--topic", topic,
                            "--property", "parse.key=true", "--property", "key.separator=\t",
                            "--producer-property", "acks=all"])
    done = subprocess.run(command, input=lines, text=True, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return _placement(bootstrap, topic)


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_python_clients_place_keys_as_the_java_producer(kafka_stack, unique_name, client):
    bootstrap = kafka_stack.endpoints.kafka_bootstrap
    transport = get_transport("kafka", client, kafka_stack.endpoints)
    java_topic, python_topic = f"{unique_name}-java", f"{unique_name}-py"
    transport.ensure_topics([TopicSpec(t, "raw", partitions=PARTITIONS, replication=1)
                             for t in (java_topic, python_topic)])
    try:
        java = _java_placement(bootstrap, java_topic)
        publisher = transport.publisher("key-placement")        # the application's publisher, its defaults
        for key in KEYS:
            publisher.publish(python_topic, key, key.encode())
        assert publisher.flush(30) == 0
        publisher.close()
        python = _placement(bootstrap, python_topic)
    finally:
        transport.delete_topics([java_topic, python_topic])

    assert set(java) == set(python) == set(KEYS)
    assert len(set(java.values())) == PARTITIONS            # the keys spread: a placement test, not a tie
    moved = sorted(key for key in KEYS if java[key] != python[key])
    assert moved == [], f"{client}: {len(moved)} of {len(KEYS)} keys on another partition than Java's, e.g. {moved[:5]}"
