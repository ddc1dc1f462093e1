"""Connections to RabbitMQ: pika's parameters set in one place, blocking connections with failover over the
cluster's nodes, the channel errors a caller expects, and clean-up of what a caller declared."""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
from collections.abc import Iterable

from ..base import TransportError

log = logging.getLogger(__name__)

COALESCE_BYTES = 256 * 1024     # at most this much of pika's write queue goes out in one send()
HEARTBEAT_S = 30
RECONNECT_TIMEOUT_S = 60.0


def coalesce_socket_writes() -> None:
    """Make pika send its queued frames in one `send()` instead of one per frame (idempotent).

    pika queues every frame as its own buffer and its transport sends them one by
    one: a publish is three frames (method, header, body), so a publisher paid
    three syscalls per message — the largest single item in a cProfile of the
    bench producer (`socket.send`, a quarter of its time). Joining what is queued
    (up to `COALESCE_BYTES`) before sending keeps the bytes and their order and
    turns a burst of publishes or acks into one syscall. TCP_NODELAY is already on
    (pika sets it), so nothing waits for Nagle; the coalescing only saves calls.
    Checked against pika 1.3–1.4's `_AsyncPlaintextTransport._produce`; on a pika
    without it this does nothing.
    """
    try:
        from pika.adapters.utils.io_services_utils import _AsyncPlaintextTransport
    except ImportError:  # pragma: no cover - another pika layout: keep its own behaviour
        return
    if getattr(_AsyncPlaintextTransport._produce, "coalesces", False):
        return

    def _produce(transport) -> None:
        # pika's loop, with the join added; a full socket raises EAGAIN out of send(), as in pika
        buffers = transport._tx_buffers
        while buffers:
            if len(buffers) > 1:
                parts, size = [], 0
                while buffers and size < COALESCE_BYTES:
                    part = buffers.popleft()
                    parts.append(part)
                    size += len(part)
                buffers.appendleft(b"".join(parts))
            sent = transport._sigint_safe_send(transport._sock, buffers[0])
            chunk = buffers.popleft()
            if sent < len(chunk):
                buffers.appendleft(chunk[sent:])
            transport._tx_buffered_byte_count -= sent

    _produce.coalesces = True         # type: ignore[attr-defined]
    _AsyncPlaintextTransport._produce = _produce


def connection_parameters(url: str, client_id: str = "streamlab", socket_timeout: float = 5,
                          heartbeat: int | None = HEARTBEAT_S, blocked_timeout: float | None = None):
    """pika's parameters for `url`, the one place they are set (heartbeat None: the broker's proposal)."""
    import pika

    coalesce_socket_writes()
    params = pika.URLParameters(url)
    params.heartbeat = heartbeat
    params.socket_timeout = socket_timeout
    params.stack_timeout = max(10, socket_timeout)
    params.blocked_connection_timeout = blocked_timeout
    params.connection_attempts = 1
    params.client_properties = {"connection_name": client_id, "product": "streamlab"}
    return params


def delete_queues(amqp_url: str, queues: list[str], exchanges: Iterable[str] = ()) -> None:
    """Delete queues and exchanges declared outside a transport (a bench run, an experiment): clean-up that
    must never hide the result, so a broker that is gone and a queue that is gone already are fine."""
    import pika

    try:
        connection = pika.BlockingConnection(connection_parameters(amqp_url, "streamlab-cleanup", socket_timeout=10))
    except Exception:  # noqa: BLE001 - the broker is gone: nothing to delete
        return
    try:
        for kind, names in (("queue", list(queues)), ("exchange", list(exchanges))):
            for name in names:
                try:  # each on its own channel: a failed delete closes its channel
                    channel = connection.channel()
                    if kind == "queue":
                        channel.queue_delete(queue=name)
                    else:
                        channel.exchange_delete(exchange=name)
                    channel.close()
                except Exception:  # noqa: BLE001 - gone already is fine
                    pass
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def _where(urls: list[str]) -> str:
    return ", ".join(urllib.parse.urlsplit(u).netloc.rsplit("@", 1)[-1] for u in urls)


def _blocking_connection(urls: list[str], client_id: str, deadline: float):
    """A BlockingConnection to the first node that answers, trying all until `deadline`."""
    import pika
    from pika.exceptions import AMQPConnectionError

    params = [connection_parameters(u, client_id) for u in urls]
    last: Exception | None = None
    while True:
        try:
            return pika.BlockingConnection(params)
        except AMQPConnectionError as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise TransportError(f"RabbitMQ does not answer at {_where(urls)} ({type(last).__name__}): "
                                 "start it with `make up BROKER=rabbitmq`") from None
        time.sleep(0.5)


@contextlib.contextmanager
def _expected_channel_errors():
    """pika logs every broker-side channel close as a warning; a passive declare's 404 is an answer, not news."""
    logger = logging.getLogger("pika.channel")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
