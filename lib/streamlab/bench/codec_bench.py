"""Codec benchmark (Bonus 1): size and speed of every codec on every message type.

The messages are the pipeline's real ones, from the simulated fleet and the
health model, not synthetic blobs: what a codec saves depends on what it
encodes (a flat reading of four floats vs. 768 float32 samples vs. a map of
features).

Method: for each repeat, codec and message type, encode the whole batch of
``n_messages`` in a tight loop timed with ``perf_counter_ns``, then decode the
encoded batch the same way (decoding includes the field validation every
codec does, as in the processor). The reported time per message is the median
over the repeats (robust to a noisy neighbour), with the standard deviation as
a separate metric. The garbage collector is paused while a batch is timed, as
``timeit`` does: a collection triggered by unrelated garbage is not the
codec's cost. Size is the mean encoded length. A warm-up pass per codec
and type runs first and checks the round trip, so a broken codec fails loudly
instead of producing a fast number.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..codecs import CODEC_NAMES, Codec, get_codec
from ..domain import (
    Alert,
    Fleet,
    HealthModel,
    HealthRecord,
    Message,
    TelemetryFeatures,
    TelemetryReading,
    VibrationWindow,
    vibration_band_energies,
)
from ..measure.results import write_table

RESULT_COLUMNS = ["codec", "message_type", "metric", "value", "unit", "repeats", "n_messages", "safe_for_untrusted"]
# A fixed, realistic epoch: timestamps around 1.75e18 ns take as many bytes as live ones.
_BASE_TS_NS = 1_750_000_000 * 10**9
_N_MACHINES = 20
_TELEMETRY_HZ = 10


def sample_messages(n_messages: int, seed: int = 1) -> dict[str, list[Message]]:
    """``n_messages`` realistic messages of each type, deterministic for a seed.

    Health records and alerts come from the real health model fed by the
    fleet (with faults), so their feature maps and reasons look like the
    processor's output.
    """
    if n_messages < 1:
        raise ValueError(f"n_messages must be >= 1, got {n_messages}")
    fleet = Fleet.with_faults(_N_MACHINES, seed, duration_s=max(60.0, n_messages / _N_MACHINES))
    telemetry = [_telemetry(fleet, k) for k in range(n_messages)]
    vibration = [_vibration(fleet, k) for k in range(n_messages)]
    health = _health_records(fleet, vibration, n_messages)
    return {
        TelemetryReading.type_name: telemetry,
        VibrationWindow.type_name: vibration,
        HealthRecord.type_name: health,
        Alert.type_name: _alerts(health),
    }


def _telemetry(fleet: Fleet, k: int) -> TelemetryReading:
    t_s = (k // fleet.n_machines) / _TELEMETRY_HZ
    return fleet.telemetry(k % fleet.n_machines, t_s, ts_ns=_BASE_TS_NS + int(t_s * 1e9))


def _vibration(fleet: Fleet, k: int) -> VibrationWindow:
    t_s = float(k // fleet.n_machines)
    return fleet.vibration(k % fleet.n_machines, t_s, ts_ns=_BASE_TS_NS + int(t_s * 1e9))


def _health_records(fleet: Fleet, vibration: list[VibrationWindow], n_messages: int) -> list[HealthRecord]:
    model = HealthModel()
    features = {machine_id: TelemetryFeatures() for machine_id in fleet.machine_ids}
    records = []
    for k in range(n_messages):
        machine = k % fleet.n_machines
        tracker = features[fleet.machine_ids[machine]]
        while not tracker.ready:  # warm the rolling window, then one reading per record
            tracker.update(_telemetry(fleet, machine))
        reading = _telemetry(fleet, k)
        tracker.update(reading)
        window = vibration[k]
        assessment = model.score(tracker.features(), vibration_band_energies(window))
        records.append(model.record(reading.machine_id, k // fleet.n_machines, reading.ts_ns, assessment,
                                    ts_ns=reading.ts_ns + 2_000_000))
    return records


def _alerts(health: list[HealthRecord]) -> list[Alert]:
    model = HealthModel()
    transitions = [("ok", "warning"), ("warning", "critical"), ("critical", "warning"), ("warning", "ok")]
    alerts = []
    for k, record in enumerate(health):
        previous, state = transitions[k % len(transitions)]
        alerts.append(Alert(
            machine_id=record.machine_id, seq=k // _N_MACHINES, ts_ns=record.ts_ns + 1_000_000,
            source_ts_ns=record.source_ts_ns, previous_state=previous, state=state,
            reason=model.reason(record.features), health_score=record.health_score,
        ))
    return alerts


def _check_round_trip(codec: Codec, messages: list[Message]) -> None:
    first = messages[0]
    if codec.decode(codec.encode(first), type(first)) != first:
        raise RuntimeError(f"{codec.name} does not round-trip {first.type_name}")


def _time_batch(codec: Codec, messages: list[Message]) -> tuple[float, float, list[bytes]]:
    """Encode then decode the batch; microseconds per message for each, and the payloads."""
    msg_type = type(messages[0])
    encode = codec.encode
    decode = codec.decode
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection of unrelated garbage is not the codec's cost
    try:
        start = time.perf_counter_ns()
        payloads = [encode(message) for message in messages]
        encoded = time.perf_counter_ns()
        for payload in payloads:
            decode(payload, msg_type)
        decoded = time.perf_counter_ns()
    finally:
        if gc_was_enabled:
            gc.enable()
    n = len(messages)
    return (encoded - start) / n / 1e3, (decoded - encoded) / n / 1e3, payloads


def _rows(codec: Codec, type_name: str, encode_us: list[float], decode_us: list[float], sizes: list[int],
          repeats: int, n_messages: int) -> list[dict]:
    def std(values: list[float]) -> float:
        return statistics.stdev(values) if len(values) > 1 else 0.0

    metrics = [
        ("encode_us", statistics.median(encode_us), "us/msg"),
        ("encode_us_std", std(encode_us), "us/msg"),
        ("decode_us", statistics.median(decode_us), "us/msg"),
        ("decode_us_std", std(decode_us), "us/msg"),
        ("bytes", statistics.fmean(sizes), "bytes/msg"),
    ]
    return [
        {"codec": codec.name, "message_type": type_name, "metric": metric, "value": float(value), "unit": unit,
         "repeats": repeats, "n_messages": n_messages, "safe_for_untrusted": codec.safe_for_untrusted}
        for metric, value, unit in metrics
    ]


def run_codec_benchmark(
    codecs: Sequence[str] | None = None,
    n_messages: int = 2000,
    seed: int = 1,
    repeats: int = 5,
    progress: bool = False,
) -> pd.DataFrame:
    """Measure every codec on every message type; a tidy DataFrame, one row per (codec, type, metric).

    Metrics: ``encode_us`` / ``decode_us`` (median microseconds per message over
    ``repeats``), ``encode_us_std`` / ``decode_us_std`` (their standard
    deviation across repeats) and ``bytes`` (mean encoded size).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    chosen = [get_codec(name) for name in (codecs or CODEC_NAMES)]
    batches = sample_messages(n_messages, seed)
    jobs = [(codec, type_name, messages) for codec in chosen for type_name, messages in batches.items()]
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, desc="codec benchmark", unit="batch", disable=None)   # None: no bar off a terminal
    rows: list[dict] = []
    gc.collect()
    for codec, type_name, messages in jobs:
        _check_round_trip(codec, messages)
        _time_batch(codec, messages)  # warm-up: caches, lazy imports, allocator
        encode_us, decode_us = [], []
        payloads: list[bytes] = []
        for _ in range(repeats):
            enc, dec, payloads = _time_batch(codec, messages)
            encode_us.append(enc)
            decode_us.append(dec)
        sizes = [len(payload) for payload in payloads]
        rows.extend(_rows(codec, type_name, encode_us, decode_us, sizes, repeats, n_messages))
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Wide view for reading: one row per (message_type, codec), median metrics and size relative to json."""
    wide = results.pivot_table(index=["message_type", "codec"], columns="metric", values="value", sort=False)
    wide = wide[["bytes", "encode_us", "decode_us"]]
    if "json" in results["codec"].values:
        json_bytes = wide.xs("json", level="codec")["bytes"]
        per_row = json_bytes.reindex(wide.index.get_level_values("message_type")).to_numpy()
        wide["bytes_vs_json"] = wide["bytes"] / per_row
    return wide


def save_results(results: pd.DataFrame, out_dir: str | Path, name: str = "codec_bench") -> tuple[Path, Path]:
    """Write ``<name>.csv`` and ``<name>.parquet`` under ``out_dir`` (created); returns both paths."""
    csv_path, parquet_path = write_table(results, out_dir, name, ("csv", "parquet"))
    return csv_path, parquet_path
