"""The publisher: asynchronous confirms on a SelectConnection's I/O thread, a nack replaces the channel and
republishes what is unconfirmed, unroutable messages are failed, delivery callbacks run on the caller's thread."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Iterable

from ..base import DeliveryCallback, TransportError
from .connection import RECONNECT_TIMEOUT_S, _where, connection_parameters
from .records import TIMESTAMP_HEADER
from .topology import Topology

log = logging.getLogger(__name__)


DEFAULT_MAX_IN_FLIGHT = 10_000
UNROUTABLE = "unroutable: RabbitMQ returned it, no queue is bound to exchange"
PUBLISH_CHUNK = 500                       # messages per I/O-loop turn, so confirms and heartbeats get served


class PikaPublisher:
    """Asynchronous publishing with confirms on a background I/O thread that owns the connection.

    The caller's thread only appends to a queue (and wakes the I/O loop once per
    burst with `add_callback_threadsafe`); the I/O thread publishes in chunks,
    tracks delivery tags and settles them on the broker's (multiple) acks. At
    most `max_in_flight` messages are unconfirmed; `publish` blocks beyond that.
    """

    def __init__(self, urls: list[str], client_id: str, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 confirms: bool = True, reconnect_timeout_s: float = RECONNECT_TIMEOUT_S,
                 connect_timeout_s: float = 30.0, mandatory: bool = True) -> None:
        from pika.adapters.select_connection import IOLoop

        if not urls:
            raise TransportError("no RabbitMQ URL given: set AMQP_URL or start the stack")
        self.urls = list(urls)
        self.client_id = client_id
        self.max_in_flight = max(1, int(max_in_flight))
        self.confirms = confirms
        self.mandatory = mandatory   # a message no queue takes comes back (basic.return) and fails loudly
        self.reconnect_timeout_s = reconnect_timeout_s
        # shared between threads (deque operations and int reads are atomic under the GIL)
        self._outbox: collections.deque = collections.deque()     # caller → I/O thread
        self._done: collections.deque = collections.deque()       # I/O thread → caller: (callback, error)
        self._published = 0          # written by the caller only
        self._settled = 0            # written by the I/O thread only, under _cond
        self._cond = threading.Condition()
        self._wake_scheduled = False
        self._fatal: str | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        # owned by the I/O thread
        self._ioloop = IOLoop()
        self._conn = None
        self._channel = None
        self._url_index = 0
        self._unconfirmed: dict[int, tuple] = {}
        self._returned: dict[int, str] = {}     # delivery tag → why RabbitMQ returned it (before its ack)
        self._next_tag = 0
        self._lowest_tag = 1
        self._retry: collections.deque = collections.deque()
        self._declared: set[str] = set()
        self._closing = False
        self._recycling = False       # closing the channel on purpose, to republish what it nacked
        self._nacked_since: float | None = None
        self._lost_at: float | None = None
        self._last_error = ""
        # observable counters
        self.connected_url = ""
        self.reconnects = 0
        self.republished = 0
        self.nacked = 0              # messages RabbitMQ nacked (each is republished until it is acked)
        self.returned = 0            # messages RabbitMQ returned as unroutable (each a failed delivery)
        self._thread = threading.Thread(target=self._run, name=f"pika-publisher-{client_id}", daemon=True)
        self._thread.start()
        if not self._ready.wait(connect_timeout_s) or self._fatal:
            self._shutdown_thread()
            raise TransportError(self._fatal or f"RabbitMQ does not answer at {_where(self.urls)} "
                                                 f"({self._last_error or 'no reply'}): "
                                                 "start it with `make up BROKER=rabbitmq`")

    # -- caller's thread --------------------------------------------------------------------------
    def publish(self, topic: str, key: bytes | str | None, value: bytes,
                headers: dict[str, bytes] | None = None, on_delivery: DeliveryCallback | None = None) -> None:
        if self._done:
            self._run_callbacks()
        if self._fatal:
            raise TransportError(self._fatal)
        if self._published - self._settled >= self.max_in_flight:
            self._wait_for_room()
        if key is None:
            routing_key = ""
        elif isinstance(key, str):
            routing_key = key
        else:
            routing_key = key.decode("utf-8", "replace")
        self._outbox.append((topic, routing_key, value, headers, int(time.time() * 1000), on_delivery))
        self._published += 1
        if not self._wake_scheduled:
            self._wake_scheduled = True
            self._ioloop.add_callback_threadsafe(self._drain)

    def _wait_for_room(self) -> None:
        while self._published - self._settled >= self.max_in_flight and not self._fatal:
            with self._cond:
                if self._published - self._settled >= self.max_in_flight:
                    self._cond.wait(0.05)
            self._run_callbacks()

    def _run_callbacks(self) -> None:
        done = self._done
        while done:
            callback, error = done.popleft()
            callback(error)

    def warm_up(self, topics: list[str], timeout: float = 10.0) -> None:
        """Connected and confirming on construction; each exchange is declared ahead of its first publish
        on the same channel, so there is nothing to prepare."""

    def flush(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            self._run_callbacks()
            if self._published - self._settled == 0 or self._fatal:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with self._cond:
                if self._published - self._settled > 0:
                    self._cond.wait(min(remaining, 0.05))
        self._run_callbacks()
        return self._published - self._settled

    @property
    def pending(self) -> int:
        return self._published - self._settled

    def close(self) -> None:
        if self._stopped.is_set():
            return
        self.flush(30)
        self._shutdown_thread()
        # whatever was never confirmed is reported, so a caller's count of acks stays honest
        unconfirmed = [self._unconfirmed[t] for t in sorted(self._unconfirmed)]
        for entry in [*unconfirmed, *self._retry, *self._outbox]:
            if entry[5] is not None:
                self._done.append((entry[5], "publisher closed before the broker confirmed"))
        self._retry.clear()
        self._outbox.clear()
        self._unconfirmed.clear()
        self._run_callbacks()

    def _shutdown_thread(self) -> None:
        try:
            self._ioloop.add_callback_threadsafe(self._io_shutdown)
        except Exception:  # noqa: BLE001 - the loop is gone already
            pass
        self._thread.join(15)
        self._stopped.set()
        try:
            self._ioloop.close()
        except Exception:  # noqa: BLE001
            pass

    # -- I/O thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        self._connect()
        try:
            self._ioloop.start()
        except Exception as exc:  # noqa: BLE001 - must not die silently: the caller waits on us
            self._fail_everything(f"RabbitMQ publisher I/O loop failed: {type(exc).__name__}: {exc}")
            self._ready.set()

    def _connect(self) -> None:
        import pika

        url = self.urls[self._url_index % len(self.urls)]
        self._url_index += 1
        pika.SelectConnection(connection_parameters(url, self.client_id), on_open_callback=self._on_open,
                              on_open_error_callback=self._on_open_error, on_close_callback=self._on_closed,
                              custom_ioloop=self._ioloop)

    def _on_open(self, connection) -> None:
        self._conn = connection
        self.connected_url = connection.params.host + ":" + str(connection.params.port)
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        if self.confirms:
            channel.confirm_delivery(ack_nack_callback=self._on_confirm,
                                     callback=lambda _frame: self._channel_ready(channel))
        else:
            self._channel_ready(channel)

    def _channel_ready(self, channel) -> None:
        self._channel = channel
        self._recycling = False
        self._next_tag = 0
        self._lowest_tag = 1
        self._returned.clear()
        self._declared.clear()
        if self._lost_at is not None:
            self.reconnects += 1
            log.warning("publisher %s reconnected to %s; republishing %d unconfirmed messages",
                        self.client_id, self.connected_url, len(self._retry))
        self._lost_at = None
        self._ready.set()
        self._drain()

    def _retry_later(self, reason: str) -> None:
        self._last_error = reason
        if self._lost_at is None:
            self._lost_at = time.monotonic()
        if time.monotonic() - self._lost_at > self.reconnect_timeout_s:
            self._fail_everything(f"RabbitMQ unreachable at {_where(self.urls)} for "
                                  f"{self.reconnect_timeout_s:.0f}s ({reason}): messages not confirmed")
            self._ready.set()
            self._ioloop.stop()
            return
        delay = 0.1 if self._url_index % len(self.urls) else 1.0   # next node at once, a pause per round
        self._ioloop.call_later(delay, self._connect)

    def _on_open_error(self, _connection, error) -> None:
        self._conn = None
        if self._closing:
            self._ioloop.stop()
            return
        self._retry_later(f"{type(error).__name__}: {error}")

    def _on_closed(self, _connection, reason) -> None:
        self._conn = None
        self._channel = None
        if self._closing:
            self._ioloop.stop()
            return
        log.warning("publisher %s lost its connection to %s: %s", self.client_id, self.connected_url, reason)
        self._requeue_unconfirmed()
        self._retry_later(str(reason))

    def _on_channel_closed(self, channel, reason) -> None:
        if self._channel is channel:
            self._channel = None
        conn = self._conn
        if self._closing or conn is None or not conn.is_open:
            return  # the connection is going: _on_closed handles it
        if self._recycling:
            # Our own close after a nack: republish everything unconfirmed, in order, on a fresh channel.
            self._recycling = False
            self._requeue_unconfirmed()
            self._ioloop.call_later(0.25, lambda: self._reopen_channel(conn))
            return
        # The broker closed the channel (e.g. an argument it refuses): what was unconfirmed on it failed.
        error = f"channel closed by RabbitMQ: {reason}"
        log.warning("publisher %s: %s", self.client_id, error)
        self._settle(sorted(self._unconfirmed), error)
        self._reopen_channel(conn)

    def _reopen_channel(self, conn) -> None:
        if not self._closing and self._conn is conn and conn.is_open:
            conn.channel(on_open_callback=self._on_channel_open)

    def _requeue_unconfirmed(self) -> None:
        """Messages whose confirm never came go first on the next connection: at-least-once."""
        if self._unconfirmed:
            entries = [self._unconfirmed[t] for t in sorted(self._unconfirmed)]
            self._unconfirmed.clear()
            self.republished += len(entries)
            self._retry.extendleft(reversed(entries))

    def _drain(self) -> None:
        self._wake_scheduled = False
        channel = self._channel
        if channel is None or not channel.is_open:
            return  # the (re)opened channel drains
        import pika

        source = self._retry if self._retry else self._outbox
        publish = channel.basic_publish
        declared = self._declared
        unconfirmed = self._unconfirmed
        properties = pika.BasicProperties
        n = 0
        while n < PUBLISH_CHUNK:
            if not source:
                if source is self._retry and self._outbox:
                    source = self._outbox
                    continue
                break
            entry = source.popleft()
            topic, routing_key, value, headers, ts_ms, _cb = entry
            if topic not in declared:
                channel.exchange_declare(**Topology.exchange(topic))
                declared.add(topic)
            table = dict(headers) if headers else {}
            table[TIMESTAMP_HEADER] = ts_ms
            tag = self._next_tag + 1
            # message_id carries the channel's delivery tag, so a basic.return names the message it returns
            publish(topic, routing_key, value,
                    properties(delivery_mode=2, headers=table, timestamp=ts_ms // 1000, message_id=str(tag)),
                    mandatory=self.mandatory)
            n += 1
            if self.confirms:
                self._next_tag = tag
                unconfirmed[tag] = entry
            else:
                self._settle_entries([entry], None)
        if self._retry or self._outbox:
            self._wake_scheduled = True
            self._ioloop.call_later(0, self._drain)

    def _on_return(self, _channel, method, properties, _body) -> None:
        """RabbitMQ sends basic.return before the ack of the same message: remember it, fail it on the ack."""
        reason = f"{UNROUTABLE} {method.exchange!r} ({method.reply_text})"
        self.returned += 1
        log.warning("publisher %s: %s", self.client_id, reason)
        try:
            tag = int(properties.message_id)
        except (TypeError, ValueError):
            return
        if self.confirms:
            self._returned[tag] = reason
        elif self._fatal is None:
            self._last_error = reason

    def _on_confirm(self, frame) -> None:
        import pika

        method = frame.method
        tag = method.delivery_tag
        if method.multiple:
            tags = range(self._lowest_tag, (tag or self._next_tag) + 1)
        else:
            tags = (tag,)
        if isinstance(method, pika.spec.Basic.Ack):
            self._nacked_since = None
            if self._returned:
                returned = [t for t in tags if t in self._returned]
                for t in returned:
                    self._settle((t,), self._returned.pop(t))
            self._settle(tags, None)
            return
        # A nack: the broker did not store the message, e.g. a quorum queue without a reachable leader.
        # RabbitMQ 3.10 channels that hit a leader change can keep nacking that queue, so the channel is
        # replaced and everything unconfirmed republished; only nacks that persist are failures.
        if self._recycling:
            return      # this channel is being replaced; its unconfirmed messages go out again anyway
        self.nacked += sum(1 for t in tags if t in self._unconfirmed)
        now = time.monotonic()
        if self._nacked_since is None:
            self._nacked_since = now
        if now - self._nacked_since > self.reconnect_timeout_s:
            self._settle(tags, f"nacked by RabbitMQ for {self.reconnect_timeout_s:.0f}s (message not stored)")
        elif not self._recycling and self._channel is not None:
            log.warning("publisher %s: RabbitMQ nacked a message; republishing on a new channel", self.client_id)
            self._recycling = True
            channel, self._channel = self._channel, None
            channel.close()

    def _settle(self, tags: Iterable[int], error: str | None) -> None:
        unconfirmed = self._unconfirmed
        entries = [e for e in (unconfirmed.pop(t, None) for t in tags) if e is not None]
        while self._lowest_tag <= self._next_tag and self._lowest_tag not in unconfirmed:
            self._lowest_tag += 1
        self._settle_entries(entries, error)

    def _settle_entries(self, entries: list[tuple], error: str | None) -> None:
        if not entries:
            return
        done = self._done
        for entry in entries:
            if entry[5] is not None:
                done.append((entry[5], error))
        with self._cond:
            self._settled += len(entries)
            self._cond.notify_all()

    def _fail_everything(self, error: str) -> None:
        self._fatal = error
        entries = [self._unconfirmed[t] for t in sorted(self._unconfirmed)] + list(self._retry)
        self._unconfirmed.clear()
        self._retry.clear()
        while self._outbox:
            entries.append(self._outbox.popleft())
        self._settle_entries(entries, error)

    def _io_shutdown(self) -> None:
        self._closing = True
        if self._conn is not None and self._conn.is_open:
            self._conn.close()     # _on_closed stops the loop
        elif self._conn is not None and self._conn.is_closing:
            pass
        else:
            self._ioloop.stop()
