"""Latency recording with HdrHistogram, and throughput timelines, mergeable across processes.

Why HdrHistogram: percentiles up to p99.9 and the max need every sample, not a
mean; an HDR histogram keeps them at fixed relative precision (3 significant
digits) in a few kB, and two histograms add exactly, so each producer/consumer
process records its own and the runner merges them. Children send theirs as
`encode()` text (hdrh's compressed base64), which pickles across processes.

Values are recorded in microseconds (1 µs .. 1 h) and reported in milliseconds.
The hot path only appends to an int array; `flush()` folds the array into the
histogram with one `record_value(value, count)` per distinct value (numpy
unique), which keeps a Python consumer's per-message cost to an append.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000      # one hour
SIGNIFICANT_DIGITS = 3
PERCENTILES = {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0, "p999_ms": 99.9}
LATENCY_METRICS = ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms")


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of one latency distribution, in milliseconds; NaN where a source does not report one."""

    count: int
    p50_ms: float
    p95_ms: float = math.nan
    p99_ms: float = math.nan
    p999_ms: float = math.nan
    max_ms: float = math.nan
    mean_ms: float = math.nan
    min_ms: float = math.nan

    def metrics(self) -> dict[str, float]:
        """The tidy metrics (NaN ones left out: a tool that does not report p99.9 gets no p99.9 row)."""
        return {k: v for k, v in asdict(self).items()
                if k in LATENCY_METRICS and v is not None and not math.isnan(v)}

    @property
    def ordered(self) -> bool:
        """p50 ≤ p95 ≤ p99 ≤ p99.9 ≤ max for the values present (a sanity check the tests use)."""
        values = [v for v in (self.p50_ms, self.p95_ms, self.p99_ms, self.p999_ms, self.max_ms) if not math.isnan(v)]
        return all(a <= b for a, b in zip(values, values[1:]))


def summarize(hist: HdrHistogram) -> LatencySummary | None:
    """Percentiles of a histogram in ms (None when it holds no samples): hdrh's own values, computed faster.

    hdrh walks its whole counts array (23,552 buckets here) in Python for every
    percentile and again for the mean: about 100 ms per summary on this
    machine, which the sinks' loops paid every few seconds for their live
    gauges while no record was polled. Here one numpy pass finds the occupied
    buckets and each value comes from hdrh's own bucket arithmetic, so the
    results are identical (a test holds them equal).
    """
    count = hist.get_total_count()
    if count == 0:
        return None
    counts = np.ctypeslib.as_array(hist.counts)[:hist.counts_len]   # 2-, 4- or 8-byte counters, as decoded
    occupied = np.flatnonzero(counts)
    cumulative = np.cumsum(counts[occupied])

    def at_percentile(percentile: float) -> int:
        index = int(occupied[np.searchsorted(cumulative, hist.get_target_count_at_percentile(percentile))])
        return hist.get_highest_equivalent_value(hist.get_value_from_index(index))

    # hdrh's mean counts each bucket at its middle; its get_value_from_index, vectorised over the occupied ones
    half = hist.sub_bucket_half_count
    bucket = (occupied >> hist.sub_bucket_half_count_magnitude) - 1
    sub_bucket = (occupied & (half - 1)) + half
    sub_bucket = np.where(bucket < 0, sub_bucket - half, sub_bucket)
    bucket = np.maximum(bucket, 0) + hist.unit_magnitude
    middle = (sub_bucket << bucket) + ((np.int64(1) << bucket) >> 1)
    total = int((counts[occupied].astype(np.int64) * middle).sum())
    values = {k: at_percentile(p) / 1000.0 for k, p in PERCENTILES.items()}
    return LatencySummary(count=int(count), max_ms=hist.get_max_value() / 1000.0,
                          mean_ms=float(total) / count / 1000.0, min_ms=hist.get_min_value() / 1000.0, **values)


class LatencyRecorder:
    """Record latencies in one process; encode to ship them, decode and merge in the parent."""

    def __init__(self, flush_every: int = 100_000) -> None:
        self.histogram = new_histogram()
        self._buffer = array("q")
        self._flush_every = flush_every
        self.append_ns = self._buffer.append       # the hot path: recorder.append_ns(now - sent)

    # -- recording -----------------------------------------------------------------------------
    def record_ns(self, nanoseconds: int) -> None:
        self._buffer.append(nanoseconds)
        if len(self._buffer) >= self._flush_every:
            self.flush()

    def record_many_ns(self, values: Iterable[int]) -> None:
        self._buffer.extend(values)
        if len(self._buffer) >= self._flush_every:
            self.flush()

    def record_ms(self, milliseconds: float) -> None:
        self.record_ns(int(milliseconds * 1_000_000))

    def maybe_flush(self) -> None:
        if len(self._buffer) >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        """Fold the buffered samples into the histogram (µs, clamped into the histogram's range)."""
        if not self._buffer:
            return
        micros = np.frombuffer(self._buffer, dtype=np.int64) // 1000
        np.clip(micros, LOWEST_US, HIGHEST_US, out=micros)
        values, counts = np.unique(micros, return_counts=True)
        record = self.histogram.record_value
        for value, count in zip(values.tolist(), counts.tolist()):
            record(value, count)
        del self._buffer[:]

    # -- shipping and merging ----------------------------------------------------------------------
    def encode(self) -> str:
        self.flush()
        return encode_histogram(self.histogram)

    @classmethod
    def decode(cls, encoded: str | bytes) -> LatencyRecorder:
        recorder = cls()
        recorder.histogram = decode_histogram(encoded)
        return recorder

    def merge(self, other: LatencyRecorder | HdrHistogram | str | bytes) -> LatencyRecorder:
        self.flush()
        if isinstance(other, LatencyRecorder):
            other.flush()
            other = other.histogram
        elif isinstance(other, (str, bytes)):
            other = decode_histogram(other)
        self.histogram.add(other)
        return self

    @property
    def count(self) -> int:
        return int(self.histogram.get_total_count()) + len(self._buffer)

    def summary(self) -> LatencySummary | None:
        self.flush()
        return summarize(self.histogram)


def encode_histogram(hist: HdrHistogram) -> str:
    data = hist.encode()
    return data.decode("ascii") if isinstance(data, bytes) else data


def decode_histogram(encoded: str | bytes) -> HdrHistogram:
    if isinstance(encoded, str):
        encoded = encoded.encode("ascii")
    return HdrHistogram.decode(encoded)


def merge_encoded(encoded: Iterable[str | bytes | None]) -> HdrHistogram:
    """One histogram from the encoded histograms of several processes (None/empty entries skipped)."""
    total = new_histogram()
    for item in encoded:
        if item:
            total.add(decode_histogram(item))
    return total


class Timeline:
    """Counts of events (records acked, records received) in fixed buckets since a start time.

    Buckets are 0.1 s so a measurement window need not fall on whole seconds; `per_second()`
    gives the series the book plots, `rate(start, end)` the throughput within a window.
    """

    BUCKET_S = 0.1

    def __init__(self, start: float = 0.0) -> None:
        self.start = start
        self.counts: list[int] = []
        self.bytes: list[int] = []
        #: The exact time (the callers' clock) of the last add that counted records: a run shorter than its
        #: warm-up is measured to it, not to the end of its 0.1-s bucket (issue 30: 100,000 records over a
        #: bucket-rounded "2.1 s" printed 47,619.05 records/s).
        self.last_event: float | None = None

    def add(self, now: float, records: int, nbytes: int = 0) -> None:
        if records > 0 and (self.last_event is None or now > self.last_event):
            self.last_event = now
        index = int((now - self.start) / self.BUCKET_S)
        if index < 0:
            index = 0
        counts = self.counts
        if index >= len(counts):
            grow = index + 1 - len(counts)
            counts.extend([0] * grow)
            self.bytes.extend([0] * grow)
        counts[index] += records
        self.bytes[index] += nbytes

    def total(self, start_s: float = 0.0, end_s: float = math.inf) -> tuple[int, int]:
        lo = max(0, int(round(start_s / self.BUCKET_S)))
        hi = len(self.counts) if math.isinf(end_s) else int(round(end_s / self.BUCKET_S))
        return sum(self.counts[lo:hi]), sum(self.bytes[lo:hi])

    def rate(self, start_s: float, end_s: float) -> tuple[float, float]:
        """(records/s, bytes/s) within [start_s, end_s) seconds after `start`."""
        records, nbytes = self.total(start_s, end_s)
        span = max(end_s - start_s, 1e-9)
        return records / span, nbytes / span

    def per_second(self) -> list[int]:
        per = int(round(1 / self.BUCKET_S))
        return [sum(self.counts[i:i + per]) for i in range(0, len(self.counts), per)]

    def span_s(self) -> float:
        """Seconds from `start` to the last counted event, exact; the bucketed length if none was recorded."""
        if self.last_event is not None:
            return self.last_event - self.start
        return len(self.counts) * self.BUCKET_S

    def to_dict(self) -> dict:
        return {"start": self.start, "counts": self.counts, "bytes": self.bytes, "last_event": self.last_event}

    @classmethod
    def from_dict(cls, data: dict) -> Timeline:
        timeline = cls(data["start"])
        timeline.counts = list(data["counts"])
        timeline.bytes = list(data["bytes"])
        timeline.last_event = data.get("last_event")
        return timeline

    @classmethod
    def merge(cls, timelines: Iterable[Timeline]) -> Timeline:
        timelines = list(timelines)
        merged = cls(timelines[0].start if timelines else 0.0)
        ends = [t.last_event for t in timelines if t.last_event is not None]
        merged.last_event = max(ends) if ends else None
        for t in timelines:
            shift = int(round((t.start - merged.start) / cls.BUCKET_S))
            for i, (c, b) in enumerate(zip(t.counts, t.bytes)):
                j = max(0, i + shift)
                if j >= len(merged.counts):
                    grow = j + 1 - len(merged.counts)
                    merged.counts.extend([0] * grow)
                    merged.bytes.extend([0] * grow)
                merged.counts[j] += c
                merged.bytes[j] += b
        return merged


__all__ = ["LatencyRecorder", "LatencySummary", "Timeline", "summarize", "merge_encoded", "encode_histogram",
           "decode_histogram", "new_histogram", "LATENCY_METRICS"]
