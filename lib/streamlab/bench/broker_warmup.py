"""Warm the Kafka brokers' JIT before anything is measured on them.

A Kafka broker is a JVM: its request path runs interpreted and C1-compiled
until C2 has compiled the hot methods, and on this 2-core machine three brokers'
C2 compiler threads compete with everything else for the CPU. Measured on
freshly started 3-broker stacks (2026-12-03): `kafka-producer-perf-test` at
1 KB, acks=all, gave 31,084 records/s on the cold stack, 48,377 after one
more bench of load and 60,303 after two; the application's generator →
processor p50 in the first three 6-s runs was 373, 114 and 62 ms, with perf
putting 37-49 % of the brokers' CPU in the C2 compiler threads; after this
warm-up (5 rounds, 68 s, 7,255 → 47,410 records/s) the next three 8-s runs
gave 2.2, 2.2 and 2.1 ms. A measurement taken on a cold stack measures the
JIT. So, as OpenMessaging Benchmark runs a warm-up phase before it records,
the book's runner puts load on the brokers first: rounds of Kafka's own
producer and consumer perf tools (no Python client in the way) on a scratch
topic of the benches' shape, until the producer's rate reaches a plateau or
the time is up.

The plateau (issue 30): three consecutive rounds within ±5 % of their mean,
after at least `MIN_ROUNDS` rounds. The earlier rule ("no higher than the round
before") stopped a fresh machine's warm-up at 4,171 records/s because round 4
dipped below round 3, where warm stacks reach 45-60k. A warm-up that runs out
of time before its plateau records itself as not warm, and the build's
run-facts page (book/appendix/run-facts) then says "brokers not warm" (`warm_state`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UserError
from ..paths import RESULTS_DIR
from .run import run_bench

#: Where `streamlab stack warm-up` leaves its rounds, for the chapters to show what the brokers went through.
RECORD = RESULTS_DIR / "broker-warmup.csv"


def record_path() -> Path:
    """Where the last warm-up is recorded: RECORD, or $STREAMLAB_WARMUP_RECORD (the test suite's book build
    keeps its own, so a `make book` warm-up of this checkout does not describe the test's brokers)."""
    return Path(os.environ.get("STREAMLAB_WARMUP_RECORD") or RECORD)

#: The warm-up load: the benches' 1 KB max-rate workload (6 partitions, RF 3, acks=all), with Kafka's own tools.
WORKLOAD = "max-throughput-1kb"
DRIVER = "kafka-perf-test"
#: A round's measured seconds; its JVM start and consumer phase add about as much again.
ROUND_S = 8.0
#: A plateau: the last PLATEAU_ROUNDS rounds each within PLATEAU_TOLERANCE of their mean …
PLATEAU_ROUNDS = 3
PLATEAU_TOLERANCE = 0.05
#: … after at least this many rounds (the first rounds of a cold JVM can look flat at a low level).
MIN_ROUNDS = 4


@dataclass(frozen=True)
class WarmupRound:
    round: int
    elapsed_s: float
    producer_records_per_s: float


def plateau(rates: list[float], rounds: int = PLATEAU_ROUNDS, tolerance: float = PLATEAU_TOLERANCE,
            min_rounds: int = MIN_ROUNDS) -> bool:
    """The last ``rounds`` rates lie within ±``tolerance`` of their mean, and at least ``min_rounds`` ran.

    Not "the last round did not rise": a dip is noise on a rising curve, not its end.
    """
    if len(rates) < max(rounds, min_rounds):
        return False
    last = rates[-rounds:]
    mean = sum(last) / len(last)
    return mean > 0 and all(abs(rate - mean) <= tolerance * mean for rate in last)


def warm_kafka(max_s: float, endpoints: Any = None, round_s: float = ROUND_S,
               report: Callable[[WarmupRound], None] | None = None) -> list[WarmupRound]:
    """Rounds of Kafka's perf tools until the producer rate reaches a plateau or `max_s` has passed; what each gave."""
    rounds: list[WarmupRound] = []
    started = time.monotonic()
    while time.monotonic() - started < max_s:
        bench = run_bench(WORKLOAD, DRIVER, duration=f"{round_s:g}s", warmup="0s", endpoints=endpoints,
                          save=False, progress=False)
        run = bench.runs[0][1]
        if run.error:
            raise UserError(f"broker warm-up: {DRIVER} failed ({run.error}); is the stack up? `make up`")
        rate = float(run.roles["producer"].records_per_s)
        rounds.append(WarmupRound(len(rounds) + 1, round(time.monotonic() - started, 1), rate))
        if report is not None:
            report(rounds[-1])
        if plateau([r.producer_records_per_s for r in rounds]):
            break
    return rounds


def save_rounds(rounds: list[WarmupRound], path: Path | None = None) -> Path:
    """The rounds of the warm-up that just ran, whether they reached a plateau, and when it ended."""
    path = path or record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([asdict(r) for r in rounds], columns=["round", "elapsed_s", "producer_records_per_s"])
    warm = plateau([r.producer_records_per_s for r in rounds])
    frame.assign(warm=warm, ended=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")).to_csv(path, index=False)
    return path


def clear_record(path: Path | None = None) -> None:
    """Forget the last warm-up: a stack started without one must not be described by an earlier stack's."""
    (path or record_path()).unlink(missing_ok=True)


def last_rounds(path: Path | None = None) -> pd.DataFrame:
    """The last warm-up's rounds; empty if none ran on this checkout (e.g. the test suite's book build)."""
    path = path or record_path()
    if not path.exists():
        return pd.DataFrame(columns=["round", "elapsed_s", "producer_records_per_s", "warm", "ended"])
    return pd.read_csv(path)


def is_warm(rounds: pd.DataFrame) -> bool:
    """The recorded warm-up reached its plateau (a record from before plateaus were recorded: recomputed)."""
    if rounds.empty:
        return False
    if "warm" in rounds.columns:
        return bool(rounds["warm"].iloc[-1])
    return plateau(rounds["producer_records_per_s"].astype(float).tolist())


def warm_state(rounds: pd.DataFrame) -> str:
    """The brokers' state as a fact for the build's run-facts page and the results database."""
    if rounds.empty:
        return "no warm-up recorded"
    last = rounds.iloc[-1]
    if is_warm(rounds):
        return f"warm: plateau at {last['producer_records_per_s']:,.0f} records/s after {len(rounds)} rounds"
    return (f"brokers not warm: no plateau in {last['elapsed_s']:.0f} s ({len(rounds)} rounds, last "
            f"{last['producer_records_per_s']:,.0f} records/s)")

