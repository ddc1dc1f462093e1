"""`BackgroundLoad`: a bounded producer and two readers of numbered messages, and its timelines."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...polling import holds_within
from ...transport.kafka_admin import quiet_logger
from .clock import Clock
from .probes import error_name


class BackgroundLoad:
    """A bounded producer and two readers: every message numbered, every outcome timed.

    One producer per topic (each with its own options, e.g. a short
    ``message.timeout.ms`` for the unreplicated topic) sends ``rate_per_s``
    messages per second per topic, the value being the message's sequence
    number. Two readers take every message:

    * a **group** consumer (the transport's, as the application's services
      use it): subscribed, partitions assigned by its group coordinator,
      offsets committed about once a second;
    * an **assigned** reader: a plain consumer that assigns itself every
      partition and joins no group, so it depends on nothing but the
      partitions' leaders. What it reads is what the log holds; where the
      group consumer lags behind it, the group's coordination is the cause.

    `stop` stops producing, waits for outstanding acknowledgements, and lets
    both readers drain until each has read every acknowledged message (or
    ``drain_s`` passes).
    """

    READERS = ("group", "assigned")

    def __init__(self, transport: Any, topics: Mapping[str, Mapping[str, object]], rate_per_s: float,
                 clock: Clock, group: str | None = None,
                 consumer_options: Mapping[str, object] | None = None) -> None:
        self.transport = transport
        self.topic_options = {name: dict(options) for name, options in topics.items()}
        self.rate_per_s = rate_per_s
        self.clock = clock
        self.group = group or f"tour-{uuid.uuid4().hex[:8]}"
        self.consumer_options = dict(consumer_options or {})
        self.sent: Counter[str] = Counter()
        # (topic, seq, t_sent, t_done, error) — appended by librdkafka's delivery callbacks
        self.deliveries: list[tuple[str, int, float, float, str | None]] = []
        # (reader, topic, seq, partition, offset, t)
        self.consumed: list[tuple[str, str, int, int, int, float]] = []
        self.consumer_errors: list[str] = []
        self._producing = threading.Event()
        self._reading = threading.Event()
        self._publishers: dict[str, Any] = {}
        self._readers: list[threading.Thread] = []
        self._producer: threading.Thread | None = None
        self._group_ready = threading.Event()
        self._assigned_ready = threading.Event()

    def start(self, ready_timeout_s: float = 30.0) -> BackgroundLoad:
        self._reading.set()
        for target, name in ((self._consume_group, "tour-group"), (self._read_assigned, "tour-assigned")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._readers.append(thread)
        self._group_ready.wait(ready_timeout_s)
        self._assigned_ready.wait(ready_timeout_s)
        for name, options in self.topic_options.items():
            # the tour kills brokers on purpose and records every failed send itself: librdkafka's
            # "broker unreachable" warnings would only repeat that in the chapter's output
            self._publishers[name] = self.transport.publisher(f"tour-producer-{name[-12:]}",
                                                              **{"logger": quiet_logger(), **options})
        self._producing.set()
        self._producer = threading.Thread(target=self._produce, name="tour-producer", daemon=True)
        self._producer.start()
        return self

    def _produce(self) -> None:
        seq = 0
        begin = time.perf_counter()
        while self._producing.is_set():
            pause = begin + seq / self.rate_per_s - time.perf_counter()
            if pause > 0:
                time.sleep(min(pause, 0.05))
                continue
            t_sent = self.clock.now()
            for name, publisher in self._publishers.items():
                def done(error: str | None, _name: str = name, _seq: int = seq, _t: float = t_sent) -> None:
                    self.deliveries.append((_name, _seq, _t, self.clock.now(), error))
                publisher.publish(name, str(seq % 24), str(seq).encode(), on_delivery=done)
                self.sent[name] += 1
            seq += 1

    def _record(self, reader: str, topic: str, value: bytes | None, partition: int, offset: int) -> None:
        try:
            seq = int(value or b"")
        except ValueError:
            return  # not ours: e.g. messages a reader sent to the topic before the load
        self.consumed.append((reader, topic, seq, partition, offset, self.clock.now()))

    def _consume_group(self) -> None:
        options = {"session_timeout_ms": 10000, **self.consumer_options}
        options = {k: v for k, v in options.items() if v is not None}  # None: leave the client's default
        consumer = self.transport.consumer(list(self.topic_options), self.group, "tour-consumer",
                                           from_beginning=True, **options)
        try:
            last_commit = time.monotonic()
            while self._reading.is_set():
                try:
                    records = consumer.poll(0.2)
                except Exception as exc:  # noqa: BLE001 - any client error is recorded, the reader goes on
                    self.consumer_errors.append(str(exc))
                    time.sleep(0.2)
                    continue
                if not self._group_ready.is_set() and consumer.assignment_ready():
                    self._group_ready.set()
                for record in records:
                    self._record("group", record.topic, record.value, record.partition, record.offset)
                if records and time.monotonic() - last_commit > 1.0:
                    try:
                        consumer.commit()
                    except Exception as exc:  # noqa: BLE001 - coordinator moving: the next commit covers it
                        self.consumer_errors.append(str(exc))
                    last_commit = time.monotonic()
        finally:
            self._group_ready.set()
            try:
                consumer.close()
            except Exception:  # noqa: BLE001 - closing after an outage may fail: nothing to do
                pass

    def _read_assigned(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        bootstrap = getattr(self.transport, "bootstrap", None)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{self.group}-unused",
                             "enable.auto.commit": False, "logger": quiet_logger()})
        try:
            metadata = consumer.list_topics(timeout=10)
            consumer.assign([TopicPartition(topic, pid, OFFSET_BEGINNING)
                             for topic in self.topic_options for pid in metadata.topics[topic].partitions])
            self._assigned_ready.set()
            while self._reading.is_set():
                for msg in consumer.consume(num_messages=500, timeout=0.2):
                    if msg.error() is None:
                        self._record("assigned", msg.topic(), msg.value(), msg.partition(), msg.offset())
        finally:
            self._assigned_ready.set()
            consumer.close()

    def stop(self, flush_s: float = 30.0, drain_s: float = 15.0) -> None:
        self._producing.clear()
        if self._producer is not None:
            self._producer.join(timeout=5)
        for publisher in self._publishers.values():
            publisher.flush(flush_s)
        acked = {(topic, seq) for topic, seq, _, _, error in self.deliveries if error is None}

        def drained() -> bool:
            rows = list(self.consumed)
            return all(acked <= {(r[1], r[2]) for r in rows if r[0] == reader} for reader in self.READERS)

        holds_within(drained, drain_s, 0.2)
        self._reading.clear()
        for thread in self._readers:
            thread.join(timeout=15)

    # -- the frames
    def deliveries_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.deliveries, columns=["topic", "seq", "t_sent", "t_done", "error"])

    def consumed_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.consumed, columns=["reader", "topic", "seq", "partition", "offset", "t_s"])

    def summary(self) -> pd.DataFrame:
        """Per topic: sent, acknowledged, failed, in the log; acknowledged but lost; duplicates; group reads.

        What the log holds is what the assigned reader read. Two kinds of
        "twice": a message *stored* twice (the same sequence number at two
        offsets: a producer retry without idempotence) and a stored message
        *delivered again* to the group (the same offset read again after a
        rebalance, because its offset was not committed yet: at-least-once
        delivery, harmless for an idempotent consumer).
        """
        deliveries = self.deliveries_frame()
        consumed = self.consumed_frame()
        rows = []
        for topic in self.topic_options:
            mine = deliveries[deliveries["topic"] == topic]
            acked = set(mine.loc[mine["error"].isna(), "seq"])
            failed = mine[mine["error"].notna()]
            log = consumed[(consumed["topic"] == topic) & (consumed["reader"] == "assigned")]
            stored = log.drop_duplicates(["partition", "offset"])
            in_log = set(stored["seq"])
            group = consumed[(consumed["topic"] == topic) & (consumed["reader"] == "group")]
            errors = Counter(error_name(e) for e in failed["error"])
            rows.append({
                "topic": topic, "sent": self.sent[topic], "acknowledged": len(acked), "failed": len(failed),
                "in_log": len(in_log), "acknowledged_lost": len(acked - in_log),
                "failed_but_stored": len(set(failed["seq"]) & in_log),
                "stored_twice": int(len(stored) - stored["seq"].nunique()),
                "group_read": int(group["seq"].nunique()),
                "group_delivered_again": int(len(group) - len(group.drop_duplicates(["partition", "offset"]))),
                "errors": ", ".join(f"{name} ×{n}" for name, n in errors.most_common()),
            })
        return pd.DataFrame(rows)


def load_timeline(load: BackgroundLoad, bin_s: float = 1.0, end_s: float | None = None) -> pd.DataFrame:
    """Messages per second over time, tidy: one row per (time bin, topic, outcome).

    Outcomes: ``acknowledged`` and ``failed`` (by the time the producer learnt
    it), ``read by the group`` and ``read, assigned`` (by the time each reader
    got it). Empty bins are zeros, so a stall shows as a drop to zero, not as a
    gap in the line.
    """
    deliveries = load.deliveries_frame()
    consumed = load.consumed_frame()
    names = {"group": "read by the group", "assigned": "read, assigned"}
    events = pd.concat([
        pd.DataFrame({"topic": deliveries["topic"], "t_s": deliveries["t_done"],
                      "outcome": deliveries["error"].isna().map({True: "acknowledged", False: "failed"})}),
        pd.DataFrame({"topic": consumed["topic"], "t_s": consumed["t_s"], "outcome": consumed["reader"].map(names)}),
    ], ignore_index=True)
    end = end_s if end_s is not None else (float(events["t_s"].max()) if not events.empty else 0.0)
    bins = [round(i * bin_s, 3) for i in range(int(end // bin_s) + 1)]
    outcomes = ["acknowledged", "failed", *names.values()]
    index = pd.MultiIndex.from_product([bins, list(load.topic_options), outcomes],
                                       names=["t_s", "topic", "outcome"])
    events["t_s"] = (events["t_s"] // bin_s * bin_s).round(3)
    counts = events.groupby(["t_s", "topic", "outcome"]).size().reindex(index, fill_value=0)
    frame = counts.rename("messages").reset_index()
    frame["per_s"] = frame["messages"] / bin_s
    return frame


def ack_latency_timeline(load: BackgroundLoad, bin_s: float = 1.0) -> pd.DataFrame:
    """Slowest and median send→acknowledgement time per time bin (by send time), per topic."""
    deliveries = load.deliveries_frame()
    ok = deliveries[deliveries["error"].isna()].copy()
    ok["latency_s"] = ok["t_done"] - ok["t_sent"]
    ok["t_s"] = (ok["t_sent"] // bin_s * bin_s).round(3)
    grouped = ok.groupby(["t_s", "topic"])["latency_s"]
    frame = pd.concat([grouped.median().rename("p50_s"), grouped.max().rename("max_s")], axis=1).reset_index()
    return frame
