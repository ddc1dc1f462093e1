"""Where the processor's two scoring paths cross: CPU per reading against how many readings a run holds.

A poll batch reaches the scorer as runs of telemetry. The vectorised path
decodes a run as columns and scores each machine's readings with numpy, which
costs a fixed set-up per machine and run; the per-record path costs about the
same for every reading. So which is faster depends on how many readings per
machine a run holds -- about one at the nominal rate (a poll every few ms sees
one tick of the fleet), hundreds when the processor catches up on a backlog.

This is measured here on the processor's own code (`Processor.process_batch`
and `commit_batch`) over the in-memory transport: no broker, so the
microseconds compared are the processor's and not a network's. Publishing to
memory costs less than a producer call, which both paths make equally often.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...codecs import get_codec
from ...domain import Fleet
from ...pipeline.topics import TELEMETRY
from ...services.common import ServiceOptions
from ...services.health_processor import HealthScorer, Processor
from ...transport import Record
from ...transport.memory import MemoryTransport

#: Readings per machine in one run, from what a poll holds at the nominal rate to a backlog's batch.
PER_MACHINE = (1, 2, 4, 8, 16, 32, 64, 128, 256)
PATHS = {"per-record": False, "vectorised": True}


@dataclass
class _InMemoryOptions(ServiceOptions):
    """The service options with the in-memory transport in place of a broker's."""

    memory: MemoryTransport = field(default_factory=MemoryTransport)

    def transport(self) -> MemoryTransport:
        return self.memory


def telemetry_runs(machines: int, per_machine: int, runs: int, codec: str = "orjson",
                   seed: int = 7) -> list[list[Record]]:
    """``runs`` consecutive runs of encoded telemetry, each holding ``per_machine`` ticks of the whole fleet."""
    fleet = Fleet.with_faults(machines, seed, duration_s=3600.0)
    encode = get_codec(codec).encode
    headers = {"codec": codec.encode()}
    out, offset = [], 0
    for k in range(runs):
        run = []
        for tick in range(k * per_machine, (k + 1) * per_machine):
            t_s = tick / 10.0
            for i, machine_id in enumerate(fleet.machine_ids):
                reading = fleet.telemetry(i, t_s, ts_ns=1_700_000_000_000_000_000 + int(t_s * 1e9))
                run.append(Record(TELEMETRY.name, machine_id.encode(), encode(reading), headers, 0, offset))
                offset += 1
        out.append(run)
    return out


def joined_scorer(machines: int, seed: int = 7) -> HealthScorer:
    """A fresh scorer that knows each machine's vibration bands (one window of the fleet of `telemetry_runs`).

    A verdict joins both streams, so a scorer fed telemetry alone never gets past "no features"; the runs
    here hold telemetry only (a vibration window would end a run), so the bands are known beforehand, as a
    running processor's are (a window a second)."""
    scorer = HealthScorer()
    fleet = Fleet.with_faults(machines, seed, duration_s=3600.0)
    for i in range(machines):
        scorer.on_vibration(fleet.vibration(i, 0.0, ts_ns=1_700_000_000_000_000_000))
    return scorer


def _processor(vectorised: bool, data_dir: Path, codec: str, machines: int) -> tuple[Processor, _InMemoryOptions]:
    options = _InMemoryOptions(codec=codec, data_dir=data_dir, instance="crossover", metrics_interval_s=3600.0)
    return Processor(options, logging.getLogger("streamlab.crossover"), joined_scorer(machines), max_batch=10_000,
                     batch_scoring=vectorised), options


def time_runs(vectorised: bool, runs: list[list[Record]], data_dir: Path, codec: str = "orjson") -> list[float]:
    """Seconds of CPU each run took through a fresh processor (process the run, then publish and commit)."""
    processor, options = _processor(vectorised, data_dir, codec, machines=len({r.key for r in runs[0]}))
    seconds = []
    try:
        for run in runs:
            options.memory.publisher_.sent.clear()
            start = time.process_time()
            processor.process_with_retries(run)
            processor.commit_batch()
            seconds.append(time.process_time() - start)
    finally:
        processor.metrics.close()
    return seconds


def record_sizes(machines: int = 20, per_machine: int = 120, codec: str = "orjson") -> dict[str, float]:
    """Mean bytes of a telemetry reading the processor reads and of a health record it writes once its
    machine's window is full, as encoded: the sizes a broker-side reference for the processor should use."""
    run = telemetry_runs(machines, per_machine, 1, codec)[0]
    with tempfile.TemporaryDirectory(prefix="streamlab-sizes-") as tmp:
        processor, options = _processor(False, Path(tmp), codec, machines)
        try:
            processor.process_with_retries(run)
        finally:
            processor.metrics.close()
    outputs = options.memory.publisher_.on(processor.health_topic)
    health = [value for _topic, _key, value, _headers in outputs[len(outputs) // 2:]]   # windows full by then
    return {"telemetry_bytes": float(np.mean([len(r.value) for r in run])),
            "health_bytes": float(np.mean([len(value) for value in health]))}


def scoring_crossover(per_machine: tuple[int, ...] = PER_MACHINE, machines: int = 20, runs: int = 7,
                      warmup: int = 2, codec: str = "orjson") -> pd.DataFrame:
    """CPU µs per reading of each path for each run size, one row per measured run (tidy, for plotting).

    Each run size gets a fresh processor on each path, which first scores at
    least ``warmup`` runs and enough readings to fill every machine's window
    (the steady state of a running processor: full windows, warm caches), not
    kept; then ``runs`` measured runs. Both paths score the same encoded readings.
    """
    rows = []
    window = HealthScorer().window
    with tempfile.TemporaryDirectory(prefix="streamlab-crossover-") as tmp:
        for n in per_machine:
            skip = max(warmup, math.ceil(window / n))
            stream = telemetry_runs(machines, n, skip + runs, codec)
            for path, vectorised in PATHS.items():
                seconds = time_runs(vectorised, stream, Path(tmp) / f"{path}-{n}", codec)[skip:]
                rows += [{"path": path, "readings_per_machine": n, "run_records": n * machines,
                          "us_per_reading": 1e6 * s / (n * machines), "ms_per_run": 1e3 * s} for s in seconds]
    return pd.DataFrame(rows)


def crossover_summary(samples: pd.DataFrame) -> pd.DataFrame:
    """Median µs per reading per path and run size, the vectorised path's speed-up, and the faster path."""
    wide = samples.pivot_table(index="readings_per_machine", columns="path", values="us_per_reading",
                               aggfunc="median")
    out = pd.DataFrame({"per-record µs/reading": wide["per-record"], "vectorised µs/reading": wide["vectorised"]})
    out["vectorised speed-up"] = out["per-record µs/reading"] / out["vectorised µs/reading"]
    out["faster"] = np.where(out["vectorised speed-up"] > 1.0, "vectorised", "per-record")
    return out.reset_index()


def crossover_point(summary: pd.DataFrame) -> int | None:
    """The smallest run size (readings per machine) from which the vectorised path stays faster; None if never."""
    faster = summary.sort_values("readings_per_machine")
    for n in faster["readings_per_machine"]:
        if (faster.loc[faster["readings_per_machine"] >= n, "faster"] == "vectorised").all():
            return int(n)
    return None
