"""RabbitMQ failure behaviour on 3 clustered nodes with quorum queues, through the app's transport.

* A consumer process killed (SIGKILL) before it acks: its deliveries come back
  to the next consumer of the group; what it acked does not.
* A node killed under a running confirming publisher (and a consumer) that are
  connected to it, while it also leads the queue: both reconnect to another
  node, the queue elects a new leader, and no confirmed message is lost.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from urllib.parse import urlsplit

import pytest

from streamlab.transport.rabbitmq import RabbitMQTransport, Topology
from streamlab.transport.rabbitmq.management import mgmt_get
from streamlab.transport.spec import TopicSpec

pytestmark = [pytest.mark.cluster, pytest.mark.rabbitmq]


@pytest.fixture
def transport(rabbit_cluster):
    config = rabbit_cluster.config
    transport = RabbitMQTransport(config.amqp_urls, config.rabbit_mgmt_url)
    yield transport
    transport.close()


def _drain(consumer, idle_s: float = 3.0, commit: bool = True) -> list:
    got, idle = [], time.monotonic()
    while time.monotonic() - idle < idle_s:
        records = consumer.poll(timeout=0.5, max_records=1000)
        if records:
            got += records
            idle = time.monotonic()
            if commit:
                consumer.commit()
    return got


def _publish_all(transport, topic: str, count: int) -> None:
    publisher = transport.publisher("setup")
    for i in range(count):
        publisher.publish(topic, f"M{i % 7:03d}", str(i).encode())
    assert publisher.flush(30) == 0
    publisher.close()


DOOMED_CONSUMER = textwrap.dedent("""
    import sys
    from streamlab.transport.rabbitmq import RabbitMQTransport
    urls, topic, group = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
    consumer = RabbitMQTransport(urls).consumer([topic], group, "doomed")
    seen = []
    for target in (300, 500):
        while len(seen) < target:
            seen += [int(r.value) for r in consumer.poll(timeout=1.0, max_records=target - len(seen))]
        if target == 300:
            consumer.commit()            # acks the first 300; the next 200 stay unacked
    print(" ".join(map(str, seen)), flush=True)
    input()                              # hold the deliveries until killed
""")


def test_a_consumer_killed_before_ack_gets_its_messages_redelivered(transport, unique_name):
    topic, group = unique_name, f"g-{unique_name}"
    transport.ensure_topics([TopicSpec(topic, "raw", replication=3)])
    transport.consumer([topic], group, "declare").close()      # the group's queue exists before publishing
    _publish_all(transport, topic, 1000)

    doomed = subprocess.Popen([sys.executable, "-c", DOOMED_CONSUMER, ",".join(transport.urls), topic, group],
                              stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    try:
        seen = [int(v) for v in doomed.stdout.readline().split()]
    finally:
        doomed.kill()
        doomed.wait()
    assert seen == list(range(500))              # one queue, one consumer: FIFO
    heir = transport.consumer([topic], group, "heir")
    records = _drain(heir)
    heir.close()
    values = sorted(int(r.value) for r in records)
    print(f"\nconsumer SIGKILLed holding 200 unacked of 500 polled: the next consumer got {len(values)} "
          f"messages, {values[0]}..{values[-1]}")
    assert values == list(range(300, 1000))      # the 200 unacked came back, the 300 acked did not
    assert transport.group_backlog(group, [topic]) == 0
    transport.delete_topics([topic])


def _node_of(url_or_address: str, base_port: int) -> int:
    port = int(url_or_address.rsplit(":", 1)[-1]) if "://" not in url_or_address else urlsplit(url_or_address).port
    return port - base_port + 1


def test_killing_a_node_under_a_confirming_publisher_loses_no_confirmed_message(rabbit_cluster, transport,
                                                                                unique_name):
    config, rabbit = rabbit_cluster.config, rabbit_cluster.part("rabbitmq")
    topic, group = unique_name, f"g-{unique_name}"
    total, rate, kill_after = 8000, 1000, 2000           # messages, per second, killed after this many
    transport.ensure_topics([TopicSpec(topic, "raw", replication=3)])
    consumer = transport.consumer([topic], group, "survivor")   # first URL: node 1, which declares and leads
    publisher = transport.publisher("failover-publisher")
    node = _node_of(publisher.connected_url, config.amqp_port)
    queue = Topology.queue_name(group, topic)
    info = mgmt_get(f"{config.rabbit_mgmt_url}/api/queues/%2F/{queue}", transport.urls[0])
    leader = info.get("leader", "")
    assert node == 1 and leader.startswith("streamlab-rabbit-1@"), (node, leader)

    confirmed: set[int] = set()
    failed: list[tuple[int, str]] = []
    received: list[int] = []

    def on_delivery(i: int):
        return lambda error: confirmed.add(i) if error is None else failed.append((i, error))

    killed_at = recovered_at = 0.0
    start = time.monotonic()
    try:
        for i in range(total):
            publisher.publish(topic, f"M{i % 20:03d}", str(i).encode(), {"seq": str(i).encode()}, on_delivery(i))
            if i % 100 == 99:
                records = consumer.poll(timeout=0, max_records=1000)
                received += [int(r.value) for r in records]
                consumer.commit()
                time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
            if i == kill_after:
                rabbit.kill_node(node)
                killed_at = time.monotonic()
                confirmed_before_kill = len(confirmed)
            if killed_at and not recovered_at and publisher.reconnects:
                recovered_at = time.monotonic()
        pending = publisher.flush(60)
        received += [int(r.value) for r in _drain(consumer)]
        publisher.close()
        consumer.close()

        lost = confirmed - set(received)
        duplicates = len(received) - len(set(received))
        print(f"\nnode {node} (queue leader, publisher's and consumer's node) SIGKILLed after {kill_after} of "
              f"{total} messages ({confirmed_before_kill} confirmed then); publisher reconnected to "
              f"{publisher.connected_url} after {recovered_at - killed_at:.2f}s, republished "
              f"{publisher.republished} unconfirmed, {publisher.nacked} nacks; consumer reconnected "
              f"{consumer.reconnects}x; confirmed {len(confirmed)}, failed {len(failed)}, received "
              f"{len(set(received))} distinct ({duplicates} duplicates), confirmed but lost {len(lost)}")
        assert killed_at and publisher.reconnects >= 1 and consumer.reconnects >= 1
        assert _node_of(publisher.connected_url, config.amqp_port) != node
        assert pending == 0 and not failed
        assert confirmed == set(range(total))       # every message confirmed in the end (republished if needed)
        assert not lost                             # ... and every confirmed one is in the queue
        survivor_mgmt = f"http://127.0.0.1:{config.rabbit_mgmt_port + 1}"    # node 2's management API
        leader_after = mgmt_get(f"{survivor_mgmt}/api/queues/%2F/{queue}", transport.urls[1]).get("leader", "")
        assert leader_after and not leader_after.startswith("streamlab-rabbit-1@")
        transport.delete_topics([topic])
    finally:
        if killed_at:
            rabbit.restart_node(node)
