"""Deep dive 8: retries — on the producer (idempotence, in-flight requests, delivery timeout) and on the consumer.

- `producer_matrix`: one producer per setting sends the same records, numbered
  per key, to its own topic whose partitions are all led by one broker. Mid-stream
  that broker is frozen (SIGSTOP) for longer than the producers' network timeout
  and then resumed: requests time out and are retried while the broker may still
  hold — and later append — the originals. Every topic is read back and counted:
  acknowledged-but-missing, duplicates, and per-key reorderings (a record in the
  log after a later record of its key).
- `consumer_retries`: a consumer whose processing fails for some messages,
  either transiently (the first attempts fail) or always (poison). Two designs:
  retrying in place (sleep, retry, the partition waits) and retry topics with a
  growing backoff and a dead-letter topic after N attempts (the partition moves
  on, the failed message waits in a retry topic until it is due).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from ...measure.latency import LatencyRecorder
from ...measure.order import late_arrivals
from ...transport.kafka_confluent import commit_sync
from . import common

#: How long a producer waits for a broker's answer before it retries; the pause must be longer.
SOCKET_TIMEOUT_MS = 1500


@dataclass(frozen=True)
class ProducerSetting:
    """One producer's retry behaviour."""

    label: str
    idempotence: bool
    max_in_flight: int = 5
    retries: int | None = None          # None: librdkafka's default (retry until delivery.timeout.ms)
    delivery_timeout_ms: int = 15000

    def config(self) -> dict[str, object]:
        conf: dict[str, object] = {"acks": "all", "enable.idempotence": self.idempotence, "linger.ms": 5,
                                   "max.in.flight.requests.per.connection": self.max_in_flight,
                                   "delivery.timeout.ms": self.delivery_timeout_ms,
                                   "socket.timeout.ms": SOCKET_TIMEOUT_MS, "retry.backoff.ms": 100}
        if self.retries is not None:
            conf["retries"] = self.retries
        return conf


PRODUCER_SETTINGS = (
    ProducerSetting("no retries", False, 5, retries=0),
    ProducerSetting("retries, in-flight 5", False, 5),
    ProducerSetting("retries, in-flight 1", False, 1),
    ProducerSetting("idempotent, in-flight 5", True, 5),
    ProducerSetting("idempotent, 2 s delivery timeout", True, 5, delivery_timeout_ms=2000),
)


def check_producer_settings(settings) -> None:
    for s in settings:
        common.require(1 <= s.max_in_flight <= 1000000, f"{s.label}: max.in.flight must be at least 1")
        common.require(not s.idempotence or s.max_in_flight <= 5,
                       f"{s.label}: an idempotent producer allows at most 5 requests in flight (Kafka's limit)")
        common.require(s.delivery_timeout_ms >= 1000, f"{s.label}: delivery.timeout.ms below 1000 ms fails "
                                                       "records before a single retry")


def producer_matrix(kafka, bootstrap: str, settings=PRODUCER_SETTINGS, *, records: int = 3000,
                    rate_per_s: float = 500.0, keys: int = 12, partitions: int = 3, pause_s: float = 3.0,
                    pause_at: float = 0.3) -> pd.DataFrame:
    """One row per setting: sent, acknowledged, failed, read back, lost, duplicated and reordered records.

    All settings run side by side (one pause serves them all). The paused
    broker is resumed and every replica is back in sync when this returns,
    whatever happened.
    """
    common.require_killable(kafka)
    check_producer_settings(settings)
    common.require(records >= 10 and rate_per_s > 0 and keys >= 1, "send at least 10 records to at least 1 key "
                                                                   "at a positive rate")
    common.require(0 < pause_at < 1, "pause_at is the fraction of records sent before the pause: between 0 and 1")
    common.require(SOCKET_TIMEOUT_MS / 1000 < pause_s <= 20,
                   f"pause_s must lie between {SOCKET_TIMEOUT_MS / 1000:g} s (the producers' network timeout: a "
                   "shorter pause causes no retry) and 20 s (the broker is frozen meanwhile)")
    ids = common.broker_ids(bootstrap)
    victim = ids[0]
    replication = min(3, len(ids))
    specs = {s: common.topic(common.unique("retries"), partitions, replication,
                             min_insync_replicas=min(2, replication)) for s in settings}
    layout = {spec.name: [[victim] + [b for b in ids if b != victim][:replication - 1] for _ in range(partitions)]
              for spec in specs.values()}
    acked: dict[ProducerSetting, set[str]] = {s: set() for s in settings}
    failed: dict[ProducerSetting, int] = {s: 0 for s in settings}
    first_error: dict[ProducerSetting, str] = {}

    def on_delivery_for(s: ProducerSetting):
        def on_delivery(err, msg) -> None:
            if err is None:
                acked[s].add(msg.value().decode())
            else:
                failed[s] += 1
                first_error.setdefault(s, err.name())
        return on_delivery

    names = [spec.name for spec in specs.values()]
    with common.scratch_topics(bootstrap, list(specs.values()), layout):
        with common.restored_brokers(kafka, bootstrap, names):
            for name in names:
                common.holds_within(lambda name=name: common.isr_full(bootstrap, name), 60, 0.3)
            writers = {s: (common.producer(bootstrap, **{k.replace(".", "_"): v for k, v in s.config().items()}),
                           on_delivery_for(s)) for s in settings}
            for writer, _ in writers.values():
                writer.list_topics(timeout=10)  # connections up before the clock starts
            started = time.monotonic()
            pause_seq = int(pause_at * records)
            resume_at = None
            for seq in range(records):
                target = started + seq / rate_per_s
                common.wait_serving(target, [w for w, _ in writers.values()])
                if seq == pause_seq:
                    kafka.pause_node(victim)
                    resume_at = time.monotonic() + pause_s
                if resume_at is not None and time.monotonic() >= resume_at:
                    kafka.resume_node(victim)
                    resume_at = None
                key = f"k{seq % keys:02d}"
                value = f"{key}:{seq // keys}".encode()
                for s, (writer, callback) in writers.items():
                    _produce(writer, specs[s].name, value, key.encode(), callback)
            while resume_at is not None and time.monotonic() < resume_at:
                for writer, _ in writers.values():
                    writer.poll(0.05)
            if resume_at is not None:
                kafka.resume_node(victim)
            for writer, _ in writers.values():
                writer.flush(60)
        rows = []
        for s, spec in specs.items():
            log = common.read_all(bootstrap, spec.name)
            values = [r.value.decode() for r in sorted(log, key=lambda r: (r.partition, r.offset))]
            found = set(values)
            rows.append({"setting": s.label, "idempotence": s.idempotence, "max_in_flight": s.max_in_flight,
                         "retries": "default" if s.retries is None else s.retries,
                         "delivery_timeout_ms": s.delivery_timeout_ms, "paused_broker": victim, "pause_s": pause_s,
                         "sent": records, "acknowledged": len(acked[s]), "failed": failed[s],
                         "first_error": first_error.get(s, ""), "read_back": len(values),
                         "lost_acknowledged": len(acked[s] - found), "failed_but_written": len(found - acked[s]),
                         "duplicates": len(values) - len(found),
                         "reordered": _reorderings(values)})
    return pd.DataFrame(rows)


def _produce(writer, topic_name: str, value: bytes, key: bytes, callback) -> None:
    while True:
        try:
            writer.produce(topic_name, value, key=key, on_delivery=callback)
            writer.poll(0)
            return
        except BufferError:
            writer.poll(0.01)


def _reorderings(values: list[str]) -> int:
    """Records found in the log after a later record of the same key (values are ``key:n``, in log order)."""
    return late_arrivals((key, int(n)) for key, n in (value.split(":") for value in values))


def harmed_settings(frame: pd.DataFrame) -> list[str]:
    """The producer settings that duplicated or reordered a record (a fact the prose names)."""
    return frame[(frame["duplicates"] > 0) | (frame["reordered"] > 0)]["setting"].tolist()


# --------------------------------------------------------------------------- consumer-side retries


@dataclass(frozen=True)
class FailurePlan:
    """Which messages fail: every ``poison_every``-th always, every ``transient_every``-th on its first attempts."""

    poison_every: int = 100
    transient_every: int = 20
    transient_failures: int = 2

    def fails(self, n: int, attempt: int) -> bool:
        if n % self.poison_every == self.poison_every - 1:
            return True
        return n % self.transient_every == 3 and attempt < self.transient_failures


DESIGNS = ("retry in place", "retry topics + DLQ")


def consumer_retries(bootstrap: str, *, messages: int = 500, backoffs_s=(0.05, 0.1, 0.2),
                     plan: FailurePlan = FailurePlan(), partitions: int = 3,
                     timeout_s: float = 60.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both designs on the same messages; returns (one row per message and design, summary per design).

    A message is tried at most ``len(backoffs_s) + 1`` times; the k-th retry
    waits ``backoffs_s[k-1]``. What still fails goes to the dead-letter topic
    with its reason and attempt count in headers.
    """
    common.require(messages >= 10, "send at least 10 messages")
    common.require(len(backoffs_s) >= 1 and all(b >= 0 for b in backoffs_s),
                   "backoffs_s needs at least one non-negative backoff (one per retry)")
    common.require(plan.poison_every >= 2 and plan.transient_every >= 2 and plan.transient_failures >= 0,
                   "poison_every and transient_every must be at least 2")
    common.require(plan.transient_failures <= len(backoffs_s),
                   f"transient_failures={plan.transient_failures} exceeds the {len(backoffs_s)} retries: "
                   "every transient failure would end in the dead-letter topic")
    replication = min(3, common.brokers(bootstrap))
    topics = {}
    for design in DESIGNS:
        main = common.topic(common.unique("work"), partitions, replication)
        topics[design] = (main, [common.topic(f"{main.name}.retry-{k + 1}", partitions, replication)
                                 for k in range(len(backoffs_s))], common.topic(f"{main.name}.dlq", 1, replication))
    rows, summary = [], []
    with common.scratch_topics(bootstrap, [t for main, retry, dlq in topics.values() for t in (main, *retry, dlq)]):
        runs = {design: _run_design(bootstrap, design, *topics[design], messages, tuple(backoffs_s), plan, timeout_s)
                for design in DESIGNS}
    for design in DESIGNS:
        per_message, seconds = runs[design]
        rows.extend(per_message)
        frame = pd.DataFrame(per_message)
        healthy = frame[frame["attempts"] == 1]["delay_ms"]
        recorder = LatencyRecorder()
        for ms in healthy:
            recorder.record_ns(int(ms * 1e6))
        stats = recorder.summary()
        summary.append(
            {
                "design": design,
                "messages": messages,
                "processed": int((frame["outcome"] == "processed").sum()),
                "after_retries": int(((frame["outcome"] == "processed") & (frame["attempts"] > 1)).sum()),
                "dead_lettered": int((frame["outcome"] == "dead letter").sum()),
                "unaccounted": messages - len(frame),
                "first_try_p50_ms": stats.p50_ms if stats else float("nan"),
                "first_try_p99_ms": stats.p99_ms if stats else float("nan"),
                "first_try_max_ms": float(healthy.max()) if len(healthy) else float("nan"),
                "seconds": round(seconds, 2),
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(summary)


def _run_design(bootstrap: str, design: str, main, retry_specs, dlq, messages: int, backoffs: tuple[float, ...],
                plan: FailurePlan, timeout_s: float) -> tuple[list[dict], float]:
    from confluent_kafka import KafkaException, TopicPartition

    final: dict[int, dict] = {}
    sent_at: dict[int, float] = {}
    writer = common.producer(bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    reader = common.consumer(bootstrap, common.unique("retrying"))
    reader.subscribe([main.name] + ([s.name for s in retry_specs] if design == DESIGNS[1] else []))
    writer.produce(main.name, b"-1", partition=0)           # a warm-up record: the fetch path is up
    writer.flush(30)
    common.holds_within(lambda: any(not m.error() and m.value() == b"-1" for m in reader.consume(10, 0.2)), 30, 0)
    commit_sync(reader)
    started = time.monotonic()                # the group reads: delays below are the design's own
    for n in range(messages):
        sent_at[n] = time.monotonic()
        writer.produce(main.name, str(n).encode(), key=str(n % 20).encode())
    writer.flush(30)
    paused: dict[tuple[str, int], float] = {}   # retry partition → when its head is due
    deadline = time.monotonic() + timeout_s
    while len(final) < messages and time.monotonic() < deadline:
        now = time.monotonic()
        due = [tp for tp, at in paused.items() if at <= now]
        if due:
            reader.resume([TopicPartition(t, p) for t, p in due])
            for tp in due:
                del paused[tp]
        for msg in reader.consume(200, 0.05):
            if msg.error() or (msg.topic(), msg.partition()) in paused:
                continue
            headers = dict(msg.headers() or [])
            attempt = int(headers.get("attempt", b"0"))
            not_before = float(headers.get("not-before", b"0"))
            if not_before > time.time():
                part = TopicPartition(msg.topic(), msg.partition(), msg.offset())
                reader.pause([part])
                reader.seek(part)
                paused[(msg.topic(), msg.partition())] = time.monotonic() + (not_before - time.time())
                continue
            n = int(msg.value())
            if n < 0:                             # the warm-up record
                continue
            if design == DESIGNS[0]:
                while plan.fails(n, attempt) and attempt < len(backoffs):
                    time.sleep(backoffs[attempt])      # the whole partition waits here
                    attempt += 1
            if not plan.fails(n, attempt):
                final[n] = {"outcome": "processed", "attempts": attempt + 1}
            elif design == DESIGNS[0] or attempt >= len(backoffs):
                writer.produce(dlq.name, msg.value(), headers={"reason": "processing failed",
                                                               "attempts": str(attempt + 1)})
                final[n] = {"outcome": "dead letter", "attempts": attempt + 1}
            else:
                writer.produce(retry_specs[attempt].name, msg.value(), key=msg.key(), headers={
                    "attempt": str(attempt + 1), "not-before": f"{time.time() + backoffs[attempt]:.6f}"})
            if n in final:
                final[n]["delay_ms"] = (time.monotonic() - sent_at[n]) * 1000
        writer.flush(10)                      # retries and dead letters are durable before the commit
        if reader.assignment():
            try:
                commit_sync(reader)
            except KafkaException as exc:
                if exc.args[0].name() != "_NO_OFFSET":   # nothing consumed since the last commit: fine
                    raise
    seconds = time.monotonic() - started
    reader.close()
    dead_letters = len(common.read_all(bootstrap, dlq.name))
    rows = [{"design": design, "message": n, **result, "dead_letters_in_topic": dead_letters}
            for n, result in sorted(final.items())]
    return rows, seconds
