"""With 3 brokers, RF=3 and min.insync.replicas=2, killing a broker under load loses no acknowledged message.

This is the acceptance test of the stack: the cluster is real (three JVMs, a KRaft
quorum), the kill is a SIGKILL of the partition leader, and the count is exact:
every sequence number the producer saw acknowledged must be read back.
"""

from __future__ import annotations

import threading
import time

import pytest

from streamlab.stack.explorer import describe_topics, wait_for_leaders

pytestmark = [pytest.mark.cluster, pytest.mark.kafka]

PRODUCE_SECONDS = 14
KILL_AFTER_S = 4


def _wait_for(predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def _isr_sizes(bootstrap: str, topic: str) -> list[int]:
    frame = describe_topics(bootstrap, offsets=False)
    return [len(isr) for isr in frame[frame["topic"] == topic]["isr"]]


def test_killing_a_leader_loses_no_acknowledged_message(kafka_cluster, unique_name):
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = kafka_cluster.endpoints.kafka_bootstrap
    kafka = kafka_cluster.part("kafka")
    admin = AdminClient({"bootstrap.servers": bootstrap})  # keep a reference: the future dies with the client
    admin.create_topics([
        NewTopic(unique_name, num_partitions=3, replication_factor=3, config={"min.insync.replicas": "2"})
    ])[unique_name].result(timeout=30)
    leader = int(wait_for_leaders(bootstrap, unique_name)["leader"].iloc[0])

    acked: list[int] = []
    failed: list[str] = []
    produced = {"seq": 0, "unflushed": None}   # what the writer thread has sent, and what flush left behind

    def on_delivery(err, msg):
        if err is None:
            acked.append(int(msg.value()))
        else:
            failed.append(str(err))

    def produce() -> None:
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                             "linger.ms": 5, "delivery.timeout.ms": 60000})
        seq, stop_at = 0, time.monotonic() + PRODUCE_SECONDS
        while time.monotonic() < stop_at:
            for _ in range(20):
                producer.produce(unique_name, str(seq).encode(), key=str(seq % 30).encode(), on_delivery=on_delivery)
                seq += 1
            produced["seq"] = seq
            producer.poll(0)
            time.sleep(0.01)
        produced["unflushed"] = producer.flush(90)

    writer = threading.Thread(target=produce)
    writer.start()
    time.sleep(KILL_AFTER_S)
    kafka.kill_node(leader)
    sent_before_kill = produced["seq"]
    shrunk = _wait_for(lambda: min(_isr_sizes(bootstrap, unique_name)) == 2, timeout=40)
    writer.join(timeout=150)
    assert not writer.is_alive()

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"verify-{unique_name}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([unique_name])
    seen: list[int] = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 8:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            seen.append(int(msg.value()))
            idle_since = time.monotonic()
    consumer.close()

    missing = set(acked) - set(seen)
    duplicates = len(seen) - len(set(seen))
    print(f"\nfailover: acked={len(acked)} read={len(seen)} missing={len(missing)} duplicates={duplicates} "
          f"delivery errors={len(failed)} killed leader={leader}")
    after_kill = sum(1 for seq in acked if seq >= sent_before_kill)
    print(f"sent before the kill: {sent_before_kill}; acknowledged after it: {after_kill}")
    assert not failed, f"{len(failed)} delivery failures, e.g. {failed[:3]}"
    assert produced["unflushed"] == 0, "messages still unacknowledged when the producer gave up"
    assert sorted(acked) == list(range(produced["seq"])), "some sends were never acknowledged"
    # liveness, not a rate: sends after the kill were made, and (above) every send was acknowledged
    assert after_kill > 0, "the producer did not keep writing through the failover"
    assert shrunk, "the ISR never shrank after the kill"
    assert not missing, f"{len(missing)} acknowledged messages lost"
    assert duplicates == 0  # idempotent producer: retries after the failover write nothing twice

    started = time.monotonic()
    kafka.restart_node(leader)
    recovered = _wait_for(lambda: min(_isr_sizes(bootstrap, unique_name)) == 3, timeout=90)
    print(f"ISR back to 3 replicas {time.monotonic() - started:.1f} s after restart")
    assert recovered, "the restarted broker never rejoined the ISR"
