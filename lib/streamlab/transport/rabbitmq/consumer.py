"""The consumer: manual acks with a prefetch window; `commit` acks up to the last delivery `poll` returned."""

from __future__ import annotations

import collections
import logging
import time
import zlib

from ..base import Record, TransportError
from .connection import RECONNECT_TIMEOUT_S, _blocking_connection
from .records import _record
from .topology import Topology

log = logging.getLogger(__name__)


DEFAULT_PREFETCH = 1000
MAX_PREFETCH = 65_535                     # basic.qos prefetch-count is an AMQP short: larger does not encode


class PikaConsumer:
    """A BlockingConnection owned by the caller's thread: poll pumps its I/O, commit acks what poll returned.

    Prefetch bounds the unacked deliveries, and a caller that commits only every
    N records (a sink batching writes) needs N of them in flight, or it waits for
    its flush timer with a full window. So unless `prefetch` is given, it follows
    the caller: at least twice the largest `max_records` asked of `poll`, up to
    AMQP's ceiling of 65,535 (a sink's flush size must stay below it).
    """

    def __init__(self, urls: list[str], topics: list[str], group: str, client_id: str,
                 prefetch: int | None = None, reconnect_timeout_s: float = RECONNECT_TIMEOUT_S,
                 connect_timeout_s: float = 30.0, topology: Topology | None = None) -> None:
        self.urls = list(urls)
        self.topology = topology or Topology()
        self.topics = list(topics)
        self.group = group
        self.client_id = client_id
        self.prefetch = int(prefetch or DEFAULT_PREFETCH)
        self._adaptive = prefetch is None
        self.reconnect_timeout_s = reconnect_timeout_s
        self.queues = self.topology.group_queues(group, self.topics)
        if self.topology.table.is_co_partitioned(group):   # rotated by name: instances started together spread
            turn = zlib.crc32(client_id.encode()) % len(self.queues)
            self.queues = self.queues[turn:] + self.queues[:turn]
        self._buffer: collections.deque = collections.deque()
        self._last_tag = 0
        self._conn = None
        self._channel = None
        self.reconnects = 0
        self._connect(time.monotonic() + connect_timeout_s)

    def _connect(self, deadline: float) -> None:
        from pika.exceptions import AMQPError

        while True:
            self._conn = _blocking_connection(self.urls, self.client_id, deadline)
            try:
                channel = self._conn.channel()
                channel.basic_qos(prefetch_count=self.prefetch)
                self.topology.declare_group(channel, self.group, self.topics)
                for queue in self.queues:
                    channel.basic_consume(queue, self._on_message)
                self._channel = channel
                return
            except AMQPError as exc:    # e.g. a queue still electing its leader after a node died
                self._close_quietly()
                if time.monotonic() >= deadline:
                    raise TransportError(f"cannot subscribe {self.group} to {', '.join(self.topics)}: "
                                         f"{type(exc).__name__}: {exc}") from None
                time.sleep(0.5)

    def _on_message(self, _channel, method, properties, body) -> None:
        self._buffer.append((method, properties, body))

    def _reconnect(self, error: Exception) -> None:
        """Deliveries not acked are requeued by the broker: forget them, they come back redelivered."""
        log.warning("consumer %s lost its connection (%s: %s); reconnecting", self.client_id,
                    type(error).__name__, error)
        self._close_quietly()
        self._buffer.clear()
        self._last_tag = 0
        self._connect(time.monotonic() + self.reconnect_timeout_s)
        self.reconnects += 1

    def _pump(self, timeout: float) -> None:
        from pika.exceptions import AMQPError

        try:
            self._conn.process_data_events(time_limit=timeout)
        except AMQPError as exc:
            self._reconnect(exc)

    def poll(self, timeout: float = 1.0, max_records: int = 500) -> list[Record]:
        if self._adaptive and min(2 * max_records, MAX_PREFETCH) > self.prefetch:
            self._set_prefetch(min(2 * max_records, MAX_PREFETCH))
        deadline = time.monotonic() + timeout
        self._pump(0)
        while not self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._pump(remaining)
        records = []
        buffer = self._buffer
        while buffer and len(records) < max_records:
            method, props, body = buffer.popleft()
            records.append(_record(method, props, body))
            self._last_tag = method.delivery_tag
        return records

    def _set_prefetch(self, prefetch: int) -> None:
        from pika.exceptions import AMQPError

        self.prefetch = prefetch
        try:
            self._channel.basic_qos(prefetch_count=prefetch)
        except AMQPError as exc:
            self._reconnect(exc)     # the new channel gets the new prefetch

    def commit(self) -> bool:
        from pika.exceptions import AMQPError

        if not self._last_tag:
            return True
        tag, self._last_tag = self._last_tag, 0
        try:
            self._channel.basic_ack(delivery_tag=tag, multiple=True)
        except AMQPError as exc:
            # the channel is gone, so are its deliveries' tags: the broker requeued them (at-least-once)
            self._reconnect(exc)
            return False
        return True

    def assignment_ready(self) -> bool:
        return self._channel is not None and self._channel.is_open

    def _close_quietly(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                if conn.is_open:
                    conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    def close(self) -> None:
        self._close_quietly()
        self._buffer.clear()
