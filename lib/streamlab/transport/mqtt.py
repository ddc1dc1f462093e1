"""MQTT (paho-mqtt, MQTT 5) against Mosquitto: the IoT pattern, for Part 3's comparison.

Mapping of the contract:
* a stream is an MQTT topic prefix; the key becomes the last level
  (`telemetry/M007`), so subscribers use `telemetry/#`;
* publish is QoS 1 (at least once): `on_delivery` fires on the broker's PUBACK,
  `flush()` waits for the outstanding PUBACKs;
* a consumer group is an MQTT 5 shared subscription `$share/<group>/<topic>/#`:
  the broker spreads messages over the group's members;
* `commit()` sends the PUBACKs of every message `poll()` returned (paho's
  manual ack), so an unacknowledged message is redelivered when the session
  resumes (persistent session: clean_start=False with a session expiry).
What MQTT lacks next to Kafka: no retention or replay (a message lives until
delivered), no ordering across a shared subscription, one broker (Mosquitto does
not cluster), headers only as MQTT 5 user properties (text).

What MQTT cannot hold (issue 18): a stream nobody has subscribed to. The broker
queues a QoS 1 message only for the persistent sessions subscribed when it was
published (until their session expires, `SESSION_EXPIRY_S`); with no such session
the message is delivered to no one and dropped, though PUBACKed. A retained
message keeps only the last one per topic level. So the dead letters published
here are held only for a group that subscribed before they were published (the
app's runner starts no reader of the dead-letter stream: on MQTT its dead letters
are counted by the services' metrics but not kept); `ensure_held` declares nothing.
"""

from __future__ import annotations

import queue
import threading
import time
from urllib.parse import urlparse

from .spec import TopicSpec
from .base import DeliveryCallback, Record, TransportError, as_key

SESSION_EXPIRY_S = 3600


def _client(client_id: str, manual_ack: bool = False):
    import paho.mqtt.client as mqtt

    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                       manual_ack=manual_ack)


def _connect(client, url: str, clean_start: bool) -> None:
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes

    parsed = urlparse(url)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0 if clean_start else SESSION_EXPIRY_S
    connected = threading.Event()
    client.on_connect = lambda *_args, **_kw: connected.set()
    try:
        client.connect(parsed.hostname or "127.0.0.1", parsed.port or 1883, keepalive=30,
                       clean_start=clean_start, properties=properties)
    except OSError as exc:
        raise TransportError(f"MQTT broker does not answer at {url} ({exc}): "
                             "start it with `make up BROKER=mqtt`") from None
    client.loop_start()
    if not connected.wait(10):
        client.loop_stop()
        raise TransportError(f"MQTT broker at {url} did not accept the connection")


class MqttPublisher:
    def __init__(self, url: str, client_id: str, **_options: object) -> None:
        self._client = _client(client_id)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._lock = threading.Lock()
        self._pending: dict[int, DeliveryCallback | None] = {}
        self._early: set[int] = set()    # PUBACKs that arrived before publish() returned the mid
        self._client.on_publish = self._on_publish
        _connect(self._client, url, clean_start=True)

    def _on_publish(self, _client, _userdata, mid, reason_code, _properties) -> None:
        with self._lock:
            if mid not in self._pending:
                self._early.add(mid)
                return
            callback = self._pending.pop(mid)
        if callback is not None:
            callback(None if not reason_code.is_failure else str(reason_code))

    def publish(self, topic: str, key: bytes | str | None, value: bytes,
                headers: dict[str, bytes] | None = None, on_delivery: DeliveryCallback | None = None) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.PUBLISH)
        if headers:
            properties.UserProperty = [(k, v.decode("latin-1")) for k, v in headers.items()]
        key_bytes = as_key(key)
        full_topic = f"{topic}/{key_bytes.decode()}" if key_bytes else topic
        # Not under our lock: paho calls on_publish from its network thread while holding its own locks.
        info = self._client.publish(full_topic, value, qos=1, properties=properties)
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                early = True
            else:
                self._pending[info.mid] = on_delivery
                early = False
        if early and on_delivery is not None:
            on_delivery(None)

    def warm_up(self, topics: list[str], timeout: float = 10.0) -> None:
        """Connected on construction: nothing to prepare."""

    def flush(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return 0
            time.sleep(0.005)
        with self._lock:
            return len(self._pending)

    def close(self) -> None:
        self.flush(30)
        self._client.disconnect()
        self._client.loop_stop()


class MqttConsumer:
    def __init__(self, url: str, topics: list[str], group: str, client_id: str,
                 from_beginning: bool = True, **_options: object) -> None:
        self._client = _client(f"{group}.{client_id}", manual_ack=True)
        self._inbox: queue.Queue = queue.Queue()
        self._unacked: list[tuple[int, int]] = []
        self._subscribed = threading.Event()
        self._client.on_message = lambda _c, _u, msg: self._inbox.put(msg)
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._topics = topics
        _connect(self._client, url, clean_start=False)
        # `topic/#` also matches `topic` itself (a message published without a key)
        self._client.subscribe([(f"$share/{group}/{topic}/#", 1) for topic in topics])

    def _record(self, msg) -> Record:
        base, _, key = msg.topic.rpartition("/")
        if base not in self._topics:          # published without a key
            base, key = msg.topic, ""
        headers = {k: v.encode("latin-1") for k, v in getattr(msg.properties, "UserProperty", []) or []}
        return Record(base, key.encode() or None, msg.payload, headers, -1, msg.mid, int(msg.timestamp * 1000))

    def poll(self, timeout: float = 1.0, max_records: int = 500) -> list[Record]:
        try:
            first = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return []
        messages = [first]
        while len(messages) < max_records:
            try:
                messages.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        self._unacked.extend((m.mid, m.qos) for m in messages)
        return [self._record(m) for m in messages]

    def commit(self) -> bool:
        for mid, qos in self._unacked:
            self._client.ack(mid, qos)
        self._unacked.clear()
        return True

    def assignment_ready(self) -> bool:
        return self._subscribed.is_set()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class MqttTransport:
    name = "mqtt"
    client = "paho"

    def __init__(self, url: str) -> None:
        self.url = url

    def ensure_topics(self, specs: list[TopicSpec]) -> list[str]:
        return []  # MQTT topics exist by being published to

    def delete_topics(self, names: list[str]) -> None:
        """Nothing to delete: MQTT keeps no log."""

    def ensure_groups(self, group_topics: dict[str, list[str]]) -> list[str]:
        """A shared subscription exists while its first subscriber is connected: nothing to declare."""
        return []

    def ensure_held(self, topics: list[str]) -> list[str]:
        """Nothing is declared: a broker queues QoS 1 messages only for a session that subscribed before
        they were published, so a stream nobody has subscribed to is not held (only its last retained
        message would be, and the app does not publish retained)."""
        return []

    def group_members(self, group: str, topics: list[str]) -> int:
        """Not observable over MQTT without broker plugins: unknown, so never reported as joined."""
        return 0

    def group_backlog(self, group: str, topics: list[str]) -> int | None:
        """Mosquitto does not expose a shared subscription's queue depth to clients."""
        return None

    def publisher(self, client_id: str, **options: object) -> MqttPublisher:
        return MqttPublisher(self.url, client_id, **options)

    def consumer(self, topics: list[str], group: str, client_id: str, from_beginning: bool = True,
                 **options: object) -> MqttConsumer:
        return MqttConsumer(self.url, topics, group, client_id, from_beginning, **options)
