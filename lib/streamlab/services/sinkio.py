"""Durable, idempotent file writing for the sinks.

Two rules make a sink safe to kill at any moment: (1) a file appears only
complete — written to a temp name, fsynced, then renamed (rename is atomic on
POSIX) and the directory fsynced; (2) offsets are committed only after that, and
on restart the sink reads back what the files already hold and skips what it
has written, so a batch that was written but not committed is not written twice.
What was written is remembered per machine as exact sequence numbers, not as a
high-water mark: RabbitMQ requeues unacknowledged messages behind newer ones, so
a redelivered seq 54 can arrive after seq 55, and a mark would drop it as a
duplicate (it did, in the pipeline test on RabbitMQ).
"""

from __future__ import annotations

import csv
import io
import os
import time
import uuid
from collections import defaultdict
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class SeenSequences:
    """Which sequence numbers of one machine are on disk: a contiguous prefix plus the few beyond it.

    Memory stays bounded by how far out of order records arrive, not by how many were written.
    """

    __slots__ = ("prefix", "beyond")

    def __init__(self) -> None:
        self.prefix = -1               # every seq <= prefix is written
        self.beyond: set[int] = set()  # written seqs > prefix + 1

    def add(self, seq: int) -> bool:
        """Record `seq`; False when it was already there (a redelivery)."""
        if seq <= self.prefix or seq in self.beyond:
            return False
        self.beyond.add(seq)
        while self.prefix + 1 in self.beyond:
            self.prefix += 1
            self.beyond.remove(self.prefix)
        return True


def hour_partition(ts_ns: int) -> str:
    return time.strftime("date=%Y-%m-%d/hour=%H", time.gmtime(ts_ns / 1e9))


class HourlyParquetWriter:
    """Health records as Parquet, one folder per UTC hour of event time (Hive-style `date=/hour=`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.seen: dict[str, SeenSequences] = defaultdict(SeenSequences)
        self._read_back()

    def _read_back(self) -> None:
        """What is already on disk per machine: the files are the truth."""
        import pyarrow.parquet as pq

        for path in self.root.rglob("*.parquet"):
            table = pq.read_table(path, columns=["machine_id", "seq"])
            for machine, seq in zip(table.column("machine_id").to_pylist(), table.column("seq").to_pylist()):
                self.seen[machine].add(seq)

    def fresh(self, rows: list[dict]) -> list[dict]:
        """Drop rows already written (redelivered after a crash), whatever order they come in."""
        return [row for row in rows if self.seen[row["machine_id"]].add(row["seq"])]

    def write(self, rows: list[dict]) -> list[Path]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        by_hour: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            by_hour[hour_partition(row["source_ts_ns"])].append(row)
        written = []
        for part, part_rows in sorted(by_hour.items()):
            buffer = io.BytesIO()
            pq.write_table(_table(part_rows), buffer, compression="zstd")
            path = self.root / part / f"part-{time.time_ns()}-{uuid.uuid4().hex[:6]}.parquet"
            atomic_write_bytes(path, buffer.getvalue())
            written.append(path)
        return written


def _table(rows: list[dict]):
    """A table whose columns are the union of the rows' keys; an all-null feature column stays float64."""
    import pyarrow as pa

    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    arrays = {}
    for name in columns:
        values = [row.get(name) for row in rows]
        all_null = all(v is None for v in values)
        arrays[name] = pa.array(values, type=pa.float64() if all_null and name.startswith("f_") else None)
    return pa.Table.from_pydict(arrays)


class CsvAppender:
    """Alerts as one CSV file; each flush rewrites it atomically with the new rows appended.

    Rewriting is O(file) per flush, fine for alerts (a few per machine per hour)
    and it keeps the file always complete for whoever opens it.
    """

    def __init__(self, path: Path, columns: list[str], key_columns: list[str]) -> None:
        self.path = path
        self.columns = columns
        self.key_columns = key_columns
        self.keys: set[tuple[str, ...]] = set()
        if path.exists():
            with open(path, newline="") as handle:
                for row in csv.DictReader(handle):
                    self.keys.add(tuple(row[c] for c in key_columns))

    def fresh(self, rows: list[dict]) -> list[dict]:
        out = []
        for row in rows:
            key = tuple(str(row[c]) for c in self.key_columns)
            if key not in self.keys:
                self.keys.add(key)
                out.append(row)
        return out

    def write(self, rows: list[dict]) -> None:
        old = self.path.read_bytes() if self.path.exists() else b""
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=self.columns, extrasaction="ignore")
        if not old:
            writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.path, old + text.getvalue().encode())
