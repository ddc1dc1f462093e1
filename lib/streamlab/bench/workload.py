"""Workloads as data: one YAML file says what load a benchmark puts on a broker.

After the OpenMessaging Benchmark: a workload names the message size, the target
rate (or `max`), how many producer and consumer processes run, the topic/queue
layout and the durability settings (acks, publisher confirms), the client's
batching, and how long to warm up and measure. Drivers read only this object,
so a Python client and the broker's own Java tool get exactly the same load.

A file holds one mapping; every field is optional except what makes the
workload meaningful, and unknown fields are errors (a typo must not silently
fall back to a default). `load_workload("max-throughput-100b")` finds a
workload shipped in `workloads/`; `load_workload("path/to/my.yaml")` reads any file.

Rates: `rate: max` sends as fast as the client can; `rate: 5000` is the total
target records/s over all producers (a fixed-rate, coordinated-omission-aware
run); `rate: 50%` is that share of the maximum the same driver reaches, which
the runner measures first in a short calibration run.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError

WORKLOAD_DIR = Path(__file__).resolve().parent / "workloads"
TIMESTAMP_BYTES = 8            # every payload starts with its send time (time.time_ns(), little-endian u64)
ACKS = ("0", "1", "all")
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
QUEUE_TYPES = ("classic", "quorum", "stream")
PHASES = ("concurrent", "sequential")
CODECS = ("raw",)


class WorkloadError(UserError, ValueError):
    """A workload file or override the user can fix; the message names the file and the field."""


@dataclass(frozen=True)
class Workload:
    """One benchmark load. Durations are seconds; sizes are bytes; `rate` is records/s over all producers."""

    name: str
    description: str = ""
    message_size: int = 100
    rate: float | None = None            # None = as fast as possible ("max")
    rate_fraction: float | None = None   # "50%" -> 0.5: share of the calibrated max of the same driver
    producers: int = 1
    consumers: int = 1
    # Kafka layout and producer settings (defaults = kafka-producer-perf-test's producer defaults)
    partitions: int = 6
    replication: int = 3                 # capped at the number of brokers, and the cap is recorded
    acks: str = "all"
    compression: str = "none"
    batch_size: int = 16384
    linger_ms: float = 5.0
    # RabbitMQ layout and settings (the PerfTest flags with the same meaning are noted)
    queues: int = 1
    confirms: int = 0                    # max unconfirmed publishes (PerfTest -c); 0 = no publisher confirms
    prefetch: int = 0                    # consumer prefetch (PerfTest -q); 0 = unlimited
    ack_every: int = 1                   # consumer acks with multiple=true every N deliveries (PerfTest -A)
    persistent: bool = False             # delivery mode 2 (PerfTest -f persistent)
    queue_type: str = "classic"          # or quorum (PerfTest -qq), or stream (-sq)
    # how the run is shaped
    phases: str = "concurrent"           # concurrent: produce and consume at once (latency);
                                         # sequential: produce, then consume it all (like the Java perf tools)
    codec: str = "raw"
    warmup_s: float = 2.0
    duration_s: float = 10.0
    max_records: int | None = None       # stop producing after this many records in total
    source: str = ""                     # the file it came from, for messages and the results

    # -- derived -----------------------------------------------------------------------------
    @property
    def rate_label(self) -> str:
        if self.rate_fraction is not None:
            return f"{self.rate_fraction * 100:g}% of max"
        return "max" if self.rate is None else f"{self.rate:g}/s"

    @property
    def fixed_rate(self) -> bool:
        return self.rate is not None

    @property
    def per_producer_rate(self) -> float | None:
        return None if self.rate is None else self.rate / self.producers

    def replace(self, **changes: Any) -> Workload:
        """A copy with some fields changed, validated like a file (raw values such as "20s" or "max" work)."""
        data = self.to_dict()
        data.update(changes)
        return workload_from_dict(data, source=self.source or "<override>")

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (what `workload_from_dict` reads back)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("source", "rate_fraction", "warmup_s", "duration_s"):
                continue
            value = getattr(self, f.name)
            if f.name == "rate":
                value = (f"{self.rate_fraction * 100:g}%" if self.rate_fraction is not None
                         else "max" if value is None else value)
            out[f.name] = value
        out["warmup"] = f"{self.warmup_s:g}s"
        out["duration"] = f"{self.duration_s:g}s"
        return out

    def settings(self) -> dict[str, Any]:
        """The columns every result row carries, so a table says what load it was measured under."""
        return {
            "workload": self.name, "message_size": self.message_size, "rate": self.rate_label,
            "producers": self.producers, "consumers": self.consumers, "partitions": self.partitions,
            "queues": self.queues, "acks": self.acks, "compression": self.compression,
            "batch_size": self.batch_size, "linger_ms": self.linger_ms, "confirms": self.confirms,
            "prefetch": self.prefetch, "persistent": self.persistent, "queue_type": self.queue_type,
            "phases": self.phases, "warmup_s": self.warmup_s, "duration_s": self.duration_s,
        }


# -- parsing helpers: each names the field it is checking -----------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min|h)?\s*$", re.IGNORECASE)
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(value: Any, what: str = "duration") -> float:
    """Seconds from 20, 20.5, "20s", "500ms", "2m"; a clear error otherwise."""
    if isinstance(value, bool):
        raise WorkloadError(f"{what} must be a duration like 20s, 500ms or 2m, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise WorkloadError(f"{what} must be a duration like 20s, 500ms or 2m, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or "").lower() or None]
    if seconds < 0:
        raise WorkloadError(f"{what} must not be negative, got {value!r}")
    return seconds


def parse_rate(value: Any, what: str = "rate") -> tuple[float | None, float | None]:
    """(rate, fraction) from "max", 5000, "5000/s", "5k", "50%"."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("max", "unlimited", "-1")):
        return None, None
    if isinstance(value, bool):
        raise WorkloadError(f"{what} must be max, a number of records/s or a percentage like 50%, got {value!r}")
    if isinstance(value, (int, float)):
        if value == -1:
            return None, None
        if value <= 0:
            raise WorkloadError(f"{what} must be positive (or max), got {value!r}")
        return float(value), None
    text = str(value).strip().lower().removesuffix("/s").strip()
    if text.endswith("%"):
        try:
            pct = float(text[:-1])
        except ValueError:
            raise WorkloadError(f"{what} must be max, a number of records/s or a percentage like 50%, "
                                f"got {value!r}") from None
        if not 0 < pct <= 100:
            raise WorkloadError(f"{what} percentage must be in (0, 100], got {value!r}")
        return None, pct / 100.0
    scale = 1.0
    if text.endswith("k"):
        text, scale = text[:-1], 1e3
    elif text.endswith("m"):
        text, scale = text[:-1], 1e6
    try:
        rate = float(text) * scale
    except ValueError:
        raise WorkloadError(f"{what} must be max, a number of records/s or a percentage like 50%, "
                            f"got {value!r}") from None
    if rate <= 0:
        raise WorkloadError(f"{what} must be positive (or max), got {value!r}")
    return rate, None


def _int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise WorkloadError(f"{what} must be a whole number ≥ {minimum}, got {value!r}")
    try:
        number = int(str(value).replace("_", "")) if isinstance(value, str) else value
    except ValueError:
        raise WorkloadError(f"{what} must be a whole number ≥ {minimum}, got {value!r}") from None
    if isinstance(number, float):
        if not number.is_integer():
            raise WorkloadError(f"{what} must be a whole number ≥ {minimum}, got {value!r}")
        number = int(number)
    if number < minimum:
        raise WorkloadError(f"{what} must be a whole number ≥ {minimum}, got {value!r}")
    return number


def _size(value: Any, what: str, minimum: int) -> int:
    """Bytes from 100, "100B", "1KB", "1KiB", "2MB" (KB = 1000, KiB = 1024)."""
    if isinstance(value, str):
        match = re.match(r"^\s*(\d+)\s*(b|kb|kib|mb|mib)?\s*$", value, re.IGNORECASE)
        if not match:
            raise WorkloadError(f"{what} must be a size in bytes like 100, 1KB or 1KiB, got {value!r}")
        unit = (match.group(2) or "b").lower()
        value = int(match.group(1)) * {"b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20}[unit]
    return _int(value, what, minimum)


def _float(value: Any, what: str, minimum: float) -> float:
    if isinstance(value, bool):
        raise WorkloadError(f"{what} must be a number ≥ {minimum:g}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise WorkloadError(f"{what} must be a number ≥ {minimum:g}, got {value!r}") from None
    if number < minimum:
        raise WorkloadError(f"{what} must be a number ≥ {minimum:g}, got {value!r}")
    return number


def _choice(value: Any, what: str, allowed: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise WorkloadError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return text


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise WorkloadError(f"{what} must be true or false, got {value!r}")


_FIELDS = {f.name for f in dataclasses.fields(Workload)} - {"rate_fraction", "warmup_s", "duration_s", "source"}
_FIELDS |= {"warmup", "duration"}
_ALIASES = {"warmup_s": "warmup", "duration_s": "duration", "size": "message_size",
            "record_size": "message_size", "linger": "linger_ms", "batch": "batch_size"}


def workload_from_dict(data: Any, source: str = "<dict>", name: str | None = None) -> Workload:
    """Validate a mapping (from YAML or code) into a Workload; every error names `source` and the field."""
    where = source
    if not isinstance(data, dict):
        raise WorkloadError(f"{where}: a workload must be a mapping of fields (message_size: 100, ...), "
                            f"got {type(data).__name__}")
    data = {(_ALIASES.get(str(k), str(k))): v for k, v in data.items()}
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise WorkloadError(f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(sorted(_FIELDS))}")

    def field_name(key: str) -> str:
        return f"{where}: field {key!r}"

    values: dict[str, Any] = {}
    wl_name = data.get("name", name)
    if wl_name is None or not str(wl_name).strip():
        raise WorkloadError(f"{field_name('name')} is missing: give the workload a name")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.,=\[\]\-]*$", str(wl_name)):
        raise WorkloadError(f"{field_name('name')} may hold letters, digits and - _ . only, got {wl_name!r}")
    values["name"] = str(wl_name)
    if "description" in data:
        values["description"] = str(data["description"] or "")
    if "message_size" in data:
        values["message_size"] = _size(data["message_size"], field_name("message_size"), TIMESTAMP_BYTES)
    if "rate" in data:
        values["rate"], values["rate_fraction"] = parse_rate(data["rate"], field_name("rate"))
    for key, minimum in (("producers", 1), ("consumers", 0), ("partitions", 1), ("replication", 1),
                         ("queues", 1), ("confirms", 0), ("prefetch", 0), ("ack_every", 1)):
        if key in data:
            values[key] = _int(data[key], field_name(key), minimum)
    if "batch_size" in data:
        values["batch_size"] = _size(data["batch_size"], field_name("batch_size"), 0)
    if "linger_ms" in data:
        values["linger_ms"] = _float(data["linger_ms"], field_name("linger_ms"), 0.0)
    if "acks" in data:
        raw = data["acks"]
        raw = "all" if str(raw).strip() == "-1" else raw
        values["acks"] = _choice(raw, field_name("acks"), ACKS)
    if "compression" in data:
        values["compression"] = _choice(data["compression"] or "none", field_name("compression"), COMPRESSIONS)
    if "queue_type" in data:
        values["queue_type"] = _choice(data["queue_type"], field_name("queue_type"), QUEUE_TYPES)
    if "phases" in data:
        values["phases"] = _choice(data["phases"], field_name("phases"), PHASES)
    if "codec" in data:
        codec = str(data["codec"]).strip().lower()
        if codec not in CODECS:
            raise WorkloadError(f"{field_name('codec')}: the drivers generate raw payloads only (codec: raw); "
                                f"compare codecs with streamlab.bench.codec_bench, got {data['codec']!r}")
        values["codec"] = codec
    if "persistent" in data:
        values["persistent"] = _bool(data["persistent"], field_name("persistent"))
    if "warmup" in data:
        values["warmup_s"] = parse_duration(data["warmup"], field_name("warmup"))
    if "duration" in data:
        values["duration_s"] = parse_duration(data["duration"], field_name("duration"))
        if values["duration_s"] <= 0:
            raise WorkloadError(f"{field_name('duration')} must be longer than 0s, got {data['duration']!r}")
    if "max_records" in data and data["max_records"] is not None:
        values["max_records"] = _int(data["max_records"], field_name("max_records"), 1)
    values["source"] = source
    workload = Workload(**values)
    if workload.phases == "sequential" and workload.fixed_rate:
        raise WorkloadError(f"{field_name('phases')}: sequential runs measure the maximum; "
                            f"use phases: concurrent with a fixed rate")
    return workload


def list_workloads() -> dict[str, Path]:
    """The workloads shipped with streamlab, by name."""
    return {p.stem: p for p in sorted(WORKLOAD_DIR.glob("*.yaml"))}


def load_workload(name_or_path: str | Path) -> Workload:
    """A shipped workload by name (`max-throughput-100b`) or any YAML file by path."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        shipped = list_workloads()
        if text not in shipped:
            raise WorkloadError(f"workload {text!r} is not known: use one of {', '.join(shipped)} or a path to a "
                                f".yaml file")
        path = shipped[text]
    if not path.is_file():
        raise WorkloadError(f"workload file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise WorkloadError(f"{path}: not valid YAML{at}: {problem}") from None
    return workload_from_dict(data, source=str(path), name=path.stem)


def as_workload(value: Workload | str | Path | dict) -> Workload:
    if isinstance(value, Workload):
        return value
    if isinstance(value, dict):
        return workload_from_dict(value)
    return load_workload(value)


__all__ = ["Workload", "WorkloadError", "load_workload", "list_workloads", "workload_from_dict",
           "parse_duration", "parse_rate", "as_workload", "WORKLOAD_DIR", "TIMESTAMP_BYTES"]
