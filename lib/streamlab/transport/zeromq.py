"""ZeroMQ PUB/SUB (pyzmq): the brokerless pattern, for Part 3's comparison.

There is no broker: a publisher binds a PUB socket per stream at a fixed
endpoint and subscribers connect to it. That is the point of the comparison,
and it shows in what the contract can and cannot mean here:
* `publish` hands the message to the socket; `on_delivery` reports that hand-off,
  not a broker's acknowledgement (there is none), and `flush()` has nothing to wait for;
* messages sent before a subscriber has connected are lost ("slow joiner"), and
  when a subscriber falls behind by more than the high-water mark (SNDHWM/RCVHWM)
  PUB/SUB **drops** messages silently — Part 3 provokes both;
* no consumer groups: every subscriber gets every message; `commit()` is a no-op;
  nothing is stored, so nothing is replayed.
One publisher per stream and endpoint (two processes cannot bind the same port).

What ZeroMQ cannot hold (issue 18): anything. With no broker there is nowhere to
keep a dead letter (or any message) no subscriber is connected for: it is dropped
by design at the PUB socket, and `ensure_held` declares nothing. The only honest
record is the count the services keep in their metrics (`dead_lettered`).
"""

from __future__ import annotations

import json
import time
import zlib

from .spec import TopicSpec, TopicTable
from .base import DeliveryCallback, Record, as_key

BASE_PORT = 5900


def endpoint(topic: str, base_port: int = BASE_PORT, table: TopicTable | None = None) -> str:
    """A fixed endpoint per stream: the caller's streams in its table's order, other names by hash."""
    position = (table or TopicTable()).position(topic)
    offset = position if position is not None else 20 + zlib.crc32(topic.encode()) % 900
    return f"tcp://127.0.0.1:{base_port + offset}"


class ZmqPublisher:
    def __init__(self, client_id: str, hwm: int = 1000, base_port: int = BASE_PORT, table: TopicTable | None = None,
                 **_options: object) -> None:
        import zmq

        self._context = zmq.Context.instance()
        self._sockets: dict[str, object] = {}
        self._hwm = hwm
        self._base_port = base_port
        self._table = table

    def _socket(self, topic: str):
        import zmq

        if topic not in self._sockets:
            sock = self._context.socket(zmq.PUB)
            sock.setsockopt(zmq.SNDHWM, self._hwm)
            sock.setsockopt(zmq.LINGER, 1000)
            sock.bind(endpoint(topic, self._base_port, self._table))
            self._sockets[topic] = sock
        return self._sockets[topic]

    def publish(self, topic: str, key: bytes | str | None, value: bytes,
                headers: dict[str, bytes] | None = None, on_delivery: DeliveryCallback | None = None) -> None:
        meta = json.dumps({"k": (as_key(key) or b"").decode("latin-1"), "ts": time.time_ns() // 1_000_000,
                           "h": {k: v.decode("latin-1") for k, v in (headers or {}).items()}}).encode()
        self._socket(topic).send_multipart([topic.encode(), meta, value])
        if on_delivery is not None:
            on_delivery(None)   # handed to the socket: ZeroMQ gives no delivery acknowledgement

    def warm_up(self, topics: list[str], timeout: float = 10.0) -> None:
        """Connected on construction: nothing to prepare."""

    def flush(self, timeout: float = 30.0) -> int:
        return 0

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()


class ZmqConsumer:
    def __init__(self, topics: list[str], group: str, client_id: str, from_beginning: bool = True,
                 hwm: int = 1000, base_port: int = BASE_PORT, table: TopicTable | None = None,
                 **_options: object) -> None:
        import zmq

        self._socket = zmq.Context.instance().socket(zmq.SUB)
        self._socket.setsockopt(zmq.RCVHWM, hwm)
        for topic in topics:
            self._socket.connect(endpoint(topic, base_port, table))
            self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._connected_at = time.monotonic()

    def poll(self, timeout: float = 1.0, max_records: int = 500) -> list[Record]:
        import zmq

        if not self._socket.poll(int(timeout * 1000)):
            return []
        records = []
        while len(records) < max_records:
            try:
                topic, meta, value = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            info = json.loads(meta)
            records.append(Record(topic.decode(), info["k"].encode("latin-1") or None, value,
                                  {k: v.encode("latin-1") for k, v in info["h"].items()}, -1, -1, info["ts"]))
        return records

    def commit(self) -> bool:
        """Nothing to commit: PUB/SUB has no acknowledgements and keeps nothing."""
        return True

    def assignment_ready(self) -> bool:
        # No handshake tells a SUB socket it is subscribed; give the connection a moment (slow joiner).
        return time.monotonic() - self._connected_at > 0.3

    def close(self) -> None:
        self._socket.close(linger=0)


class ZmqTransport:
    name = "zeromq"
    client = "pyzmq"

    def __init__(self, base_port: int = BASE_PORT, table: TopicTable | None = None) -> None:
        self.base_port = base_port
        self.table = table

    def ensure_groups(self, group_topics: dict[str, list[str]]) -> list[str]:
        """PUB/SUB has no groups to declare."""
        return []

    def ensure_held(self, topics: list[str]) -> list[str]:
        """Nothing can be declared: a PUB socket drops every message no SUB is connected for, by design."""
        return []

    def ensure_topics(self, specs: list[TopicSpec]) -> list[str]:
        return []

    def delete_topics(self, names: list[str]) -> None:
        """Nothing is stored."""

    def group_members(self, group: str, topics: list[str]) -> int:
        """PUB/SUB has no groups and tells nobody who listens."""
        return 0

    def group_backlog(self, group: str, topics: list[str]) -> int | None:
        """Nothing is queued anywhere a client could ask."""
        return None

    def publisher(self, client_id: str, **options: object) -> ZmqPublisher:
        return ZmqPublisher(client_id, base_port=self.base_port, table=self.table, **options)

    def consumer(self, topics: list[str], group: str, client_id: str, from_beginning: bool = True,
                 **options: object) -> ZmqConsumer:
        return ZmqConsumer(topics, group, client_id, from_beginning, base_port=self.base_port, table=self.table,
                           **options)
