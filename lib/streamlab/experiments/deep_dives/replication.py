"""Deep dive 4: replication factor, acks and min.insync.replicas — what they cost and what they save.

Two experiments on a 3-broker cluster:

- `durability`: for each setting, a producer sends numbered records at a fixed
  rate; mid-stream the leader of partition 0 is killed (SIGKILL) and its disk is
  lost with it (the topic's partition folders on that broker are deleted before
  it restarts: a machine that dies takes its disk). Afterwards the whole topic is
  read back and every sequence number the producer saw *acknowledged* is looked
  for. Acknowledged-but-missing records are lost. A killed process alone keeps
  its writes in the operating system's page cache, so the disk loss is what
  makes RF 1's fragility visible; a replicated topic survives both.
- `cost`: records/s and acknowledgement latency (HdrHistogram) for RF 1/3 ×
  acks 0/1/all, and producer throughput against the partition count.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

import pandas as pd

from ...measure import rules
from ...measure.latency import LatencyRecorder
from . import common


@dataclass(frozen=True)
class Setting:
    """One durability setting of a topic and its producer."""

    replication: int
    acks: str              # "0" | "1" | "all"
    min_insync: int = 1
    idempotent: bool | None = None   # None: on where it can be (acks=all), as the application runs

    @property
    def idempotence(self) -> bool:
        return self.acks == "all" if self.idempotent is None else self.idempotent

    @property
    def label(self) -> str:
        extra = ", idempotence off" if self.acks == "all" and not self.idempotence else ""
        return f"RF {self.replication}, acks={self.acks}, min ISR {self.min_insync}{extra}"

    def producer_settings(self) -> dict[str, object]:
        """Retries on (librdkafka's default) within a bounded delivery timeout; idempotence needs acks=all."""
        return {"acks": self.acks, "enable.idempotence": self.idempotence, "linger.ms": 5,
                "delivery.timeout.ms": 20000, "request.timeout.ms": 5000}


DURABILITY_SETTINGS = (Setting(1, "1"), Setting(3, "1", 1), Setting(3, "all", 2))


def check_settings(settings, broker_count: int) -> None:
    for s in settings:
        common.require(s.acks in ("0", "1", "all"), f"acks={s.acks!r} is not a Kafka setting: use 0, 1 or all")
        common.require(1 <= s.replication <= broker_count,
                       f"replication factor {s.replication} is above the {broker_count} broker(s) of this cluster: "
                       "lower it or start a 3-broker stack")
        common.require(1 <= s.min_insync <= s.replication,
                       f"min.insync.replicas={s.min_insync} must lie between 1 and the replication factor "
                       f"{s.replication}")


# --------------------------------------------------------------------------- durability


def _wipe_partitions(kafka, node: int, topic_name: str) -> int:
    """Delete the topic's partition folders on one (stopped) broker: its disk is gone. Returns folders removed."""
    data = kafka.nodes[node - 1].dir / "data"
    removed = 0
    for folder in data.glob(f"{topic_name}-*"):
        if folder.name.rsplit("-", 1)[0] == topic_name:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def durability(kafka, bootstrap: str, settings=DURABILITY_SETTINGS, *, partitions: int = 3, records: int = 3000,
               rate_per_s: float = 500.0, kill_at: float = 0.5, disk_lost: bool = True) -> pd.DataFrame:
    """One row per setting: sent, acknowledged, read back, acknowledged-but-lost after the leader died.

    All settings run side by side, one topic and one producer each, the same
    numbered records at the same moments, and every topic's partition 0 is
    led by the same broker: one kill (and one restart, the slow part) serves
    them all. ``kill_at`` is the fraction of the records sent before the kill.
    Every broker is back and in sync when this returns, whatever happened.
    """
    common.require_killable(kafka)
    check_settings(settings, common.brokers(bootstrap))
    common.require(records >= 10 and rate_per_s > 0, "send at least 10 records at a positive rate")
    common.require(0 < kill_at < 1, "kill_at is the fraction of records sent before the kill: between 0 and 1")
    ids = common.broker_ids(bootstrap)
    victim = ids[0]
    specs = {s: common.topic(common.unique(f"rf{s.replication}-acks{s.acks}"), partitions, s.replication,
                             min_insync_replicas=s.min_insync) for s in settings}
    layout = {spec.name: common.rotated_assignment(ids, partitions, s.replication, victim) for s, spec in specs.items()}
    acked: dict[Setting, set[int]] = {s: set() for s in settings}
    acked_on_victim: dict[Setting, int] = {s: 0 for s in settings}  # acknowledged by a partition the victim led
    first_error: dict[Setting, str] = {}

    def on_delivery_for(s: Setting):
        def on_delivery(err, msg) -> None:
            if err is None:
                if (seq := int(msg.value())) >= 0:  # -1: a warm-up record
                    acked[s].add(seq)
                    acked_on_victim[s] += msg.partition() == 0
            else:
                first_error.setdefault(s, err.name())
        return on_delivery

    wiped: dict[Setting, int] = {}
    with common.scratch_topics(bootstrap, list(specs.values()), layout):
        names = [spec.name for spec in specs.values()]
        with common.restored_brokers(kafka, bootstrap, names):
            writers = {s: (common.producer(bootstrap, **s.producer_settings()), on_delivery_for(s)) for s in settings}
            _warm_up(bootstrap, names, partitions, [w for w, _ in writers.values()], specs, settings)
            started = time.monotonic()
            kill_seq = int(kill_at * records)
            for seq in range(records):
                target = started + seq / rate_per_s
                common.wait_serving(target, [w for w, _ in writers.values()])
                if seq == kill_seq:
                    kafka.kill_node(victim)
                for s, (writer, callback) in writers.items():
                    writer.produce(specs[s].name, str(seq).encode(), key=str(seq % 64).encode(),
                                   on_delivery=callback)
                    writer.poll(0)
            for writer, _ in writers.values():
                writer.flush(40)
            for s, spec in specs.items():
                wiped[s] = _wipe_partitions(kafka, victim, spec.name) if disk_lost else 0
        # restored: the victim is back and every ISR is full (RF 1: the partition has its leader again)
        rows = []
        for s, spec in specs.items():
            values = [v for r in common.read_all(bootstrap, spec.name) if (v := int(r.value)) >= 0]
            found = set(values)
            rows.append({
                "setting": s.label, "replication": s.replication, "acks": s.acks, "min_insync": s.min_insync,
                "victim": victim, "killed_at_seq": kill_seq, "disk_lost": disk_lost,
                "partition_folders_wiped": wiped[s], "sent": records, "acknowledged": len(acked[s]),
                "acknowledged_by_victim": acked_on_victim[s],
                "not_acknowledged": records - len(acked[s]), "read_back": len(values),
                "lost_acknowledged": len(acked[s] - found), "duplicates": len(values) - len(found),
                "first_error": first_error.get(s, ""),
            })
    return pd.DataFrame(rows)


def _warm_up(bootstrap: str, names, partitions: int, writers, specs, settings) -> None:
    """Start measuring only once every replica exists and every producer has its connections.

    On a loaded machine a broker can take seconds to create a new topic's
    replicas; a kill before that would lose nothing because nothing was there.
    """
    for name in names:
        common.holds_within(lambda name=name: common.isr_full(bootstrap, name), 60, 0.3)
    for s, writer in zip(settings, writers):
        for p in range(partitions):
            writer.produce(specs[s].name, b"-1", partition=p)
    for writer in writers:
        writer.flush(30)


def losing_settings(frame: pd.DataFrame) -> list[str]:
    """The settings that lost an acknowledged record when the broker died with its disk (a fact the prose names)."""
    return frame[frame["lost_acknowledged"] > 0]["setting"].tolist()


# --------------------------------------------------------------------------- cost


#: The last two differ only in idempotence, so deep dive 8's "what idempotence costs" is measured, not claimed.
COST_SETTINGS = (Setting(1, "0"), Setting(1, "1"), Setting(3, "0"), Setting(3, "1"), Setting(3, "all", 2),
                 Setting(3, "all", 2, idempotent=False))


def _produce_timed(bootstrap: str, name: str, records: int, size: int, settings: dict) -> dict[str, float]:
    """Send ``records`` as fast as the producer takes them; time each acknowledgement from its send."""
    recorder = LatencyRecorder()
    errors = [0]
    payload = b"x" * size

    def acknowledged(sent_ns: int):
        def on_delivery(err, msg) -> None:
            if err is None:
                recorder.record_ns(time.perf_counter_ns() - sent_ns)
            else:
                errors[0] += 1
        return on_delivery

    writer = common.producer(bootstrap, **settings)
    started = time.perf_counter()
    for i in range(records):
        while True:
            try:
                writer.produce(name, payload, key=str(i).encode(), on_delivery=acknowledged(time.perf_counter_ns()))
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                writer.poll(0.01)
        if i % 1000 == 0:
            writer.poll(0)
    writer.flush(60)
    elapsed = time.perf_counter() - started
    summary = recorder.summary()
    return {"records_per_s": records / elapsed, "mb_per_s": records * size / elapsed / 1e6,
            "ack_p50_ms": summary.p50_ms if summary else float("nan"),
            "ack_p99_ms": summary.p99_ms if summary else float("nan"),
            "errors": errors[0], "seconds": elapsed}


def cost(bootstrap: str, settings=COST_SETTINGS, *, partitions: int = 6, records: int = 20000,
         size: int = 200, repeats: int = 1) -> pd.DataFrame:
    """Throughput and acknowledgement latency per durability setting, same records, one run each (× repeats)."""
    check_settings(settings, common.brokers(bootstrap))
    specs = {s: common.topic(common.unique(f"cost-rf{s.replication}"), partitions, s.replication,
                             min_insync_replicas=s.min_insync) for s in settings}
    rows = []
    with common.scratch_topics(bootstrap, list(specs.values())):
        for repeat in range(repeats):
            for s, spec in specs.items():
                conf = {"acks": s.acks, "enable.idempotence": s.idempotence, "linger.ms": 5}
                rows.append(
                    {
                        "setting": s.label,
                        "replication": s.replication,
                        "acks": s.acks,
                        "min_insync": s.min_insync,
                        "idempotence": s.idempotence,
                        "repeat": repeat,
                        "records": records,
                        "size_b": size,
                        **_produce_timed(bootstrap, spec.name, records, size, conf),
                    }
                )
    return pd.DataFrame(rows)


def _compare(frame: pd.DataFrame, a: str, b: str, column: str) -> tuple[float, bool]:
    """Median of `a` over median of `b` for `column`, and whether their runs' ranges do not overlap (a
    difference this run can tell from its own spread; with one run each it never can)."""
    x, y = frame.loc[frame["setting"] == a, column], frame.loc[frame["setting"] == b, column]
    separated = len(x) > 1 and len(y) > 1 and (x.min() > y.max() or y.min() > x.max())
    return float(x.median() / y.median()), separated


#: The cost table's two comparisons the chapter reads: (name, setting, against).
COST_COMPARISONS = (("acks=all vs acks=1", Setting(3, "all", 2).label, Setting(3, "1").label),
                    ("idempotence on vs off", Setting(3, "all", 2).label,
                     Setting(3, "all", 2, idempotent=False).label))


def cost_comparisons(costs: pd.DataFrame) -> pd.DataFrame:
    """The cost table's comparisons as facts, one row each whose settings both ran: `runs` (the fewest
    repetitions of a side), the medians' ratios of throughput and of p50 and p99 acknowledgement latency,
    and whether the runs' ranges separate each (`*_separated`: False with one run each)."""
    present = set(costs["setting"])
    rows = []
    for name, setting, against in COST_COMPARISONS:
        if not {setting, against} <= present:
            continue
        row: dict[str, object] = {"comparison": name, "setting": setting, "against": against,
                                  "runs": int(costs[costs["setting"].isin([setting, against])]
                                              .groupby("setting").size().min())}
        for column, short in (("records_per_s", "throughput"), ("ack_p50_ms", "p50"), ("ack_p99_ms", "p99")):
            row[f"{short}_ratio"], row[f"{short}_separated"] = _compare(costs, setting, against, column)
        rows.append(row)
    return pd.DataFrame(rows, columns=["comparison", "setting", "against", "runs", "throughput_ratio",
                                       "throughput_separated", "p50_ratio", "p50_separated", "p99_ratio",
                                       "p99_separated"])


def fastest(costs: pd.DataFrame) -> str:
    """The setting with the highest median throughput in the cost table."""
    return str(costs.groupby("setting")["records_per_s"].median().idxmax())


def separation(comparison: pd.Series, metric: str = "throughput") -> str:
    """A comparison's verdict on one metric as a short fact: "no conclusion: <rule>" with too few runs,
    else whether the difference is "larger than the runs' spread" or "within the runs' spread"."""
    failure = rules.Comparison.of([1.0] * int(comparison["runs"]), [1.0] * int(comparison["runs"])).failure()
    if failure:
        return rules.no_conclusion(failure)
    return "larger than the runs' spread" if comparison[f"{metric}_separated"] else "within the runs' spread"


def partition_scaling(bootstrap: str, counts=(1, 3, 6, 12), *, replication: int = 3, records: int = 20000,
                      size: int = 200) -> pd.DataFrame:
    """Producer throughput and ack latency against the partition count (acks=all, the same records)."""
    common.require_replication(bootstrap, replication)
    common.require(all(c >= 1 for c in counts), "partition counts must be at least 1")
    rows = []
    specs = [common.topic(common.unique(f"parts{c}"), c, replication, min_insync_replicas=min(2, replication))
             for c in counts]
    with common.scratch_topics(bootstrap, specs):
        for count, spec in zip(counts, specs):
            conf = {"acks": "all", "enable.idempotence": True, "linger.ms": 5}
            rows.append({"partitions": count, "replication": replication, "records": records, "size_b": size,
                         **_produce_timed(bootstrap, spec.name, records, size, conf)})
    return pd.DataFrame(rows)
