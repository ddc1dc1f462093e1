"""What the sinks left on disk: the health records (Parquet), the alerts (CSV) and the file inventory."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def load_health(health_dir: str | Path) -> pd.DataFrame:
    """All health records of a run, file by file, with the union of the files' columns.

    Not ``pd.read_parquet(folder)``: pyarrow takes the schema of the first file
    it finds, and the sink's files differ in columns (records scored before the
    rolling window filled have no telemetry features), so reading the folder as
    one dataset silently drops the ``f_temp_*`` columns. Rows are sorted by
    ``source_ts_ns``; ``file`` names the part file each row came from.
    """
    paths = sorted(Path(health_dir).rglob("*.parquet"))
    frames = []
    for path in paths:
        frame = pd.read_parquet(path)
        frame["file"] = path.relative_to(health_dir).as_posix()
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["machine_id", "seq", "ts_ns", "source_ts_ns", "sink_received_ns", "sink_ts_ns"])
    health = pd.concat(frames, ignore_index=True, sort=False)
    return health.sort_values(["source_ts_ns", "machine_id"], kind="stable").reset_index(drop=True)


def sink_files(data_dir: str | Path, folders: Sequence[str] = ("health", "alerts")) -> pd.DataFrame:
    """Every file under the sinks' folders: ``path`` (relative), ``kind``, ``bytes``, ``rows``.

    Rows come from the Parquet footer (no data read) or the CSV's lines minus
    the header. Temp files of an interrupted write (``.*.tmp``) are listed as
    kind ``temp`` -- after a clean run there must be none.
    """
    import pyarrow.parquet as pq

    root = Path(data_dir)
    rows = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if not path.is_file():
                continue
            name = path.name
            if name.startswith(".") and name.endswith(".tmp"):
                kind, count = "temp", math.nan
            elif path.suffix == ".parquet":
                kind, count = "parquet", pq.ParquetFile(path).metadata.num_rows
            elif path.suffix == ".csv":
                with open(path, "rb") as handle:
                    count = max(sum(1 for _ in handle) - 1, 0)
                kind = "csv"
            else:
                kind, count = path.suffix.lstrip(".") or "other", math.nan
            rows.append({"path": path.relative_to(root).as_posix(), "kind": kind, "bytes": path.stat().st_size,
                         "rows": count})
    return pd.DataFrame(rows, columns=["path", "kind", "bytes", "rows"])


def files_summary(files: pd.DataFrame) -> pd.DataFrame:
    """Per folder (first path component) and kind: files, rows, bytes, and rows and bytes per file."""
    if files.empty:
        return pd.DataFrame(columns=["folder", "kind", "files", "rows", "bytes", "rows_per_file", "bytes_per_row"])
    frame = files.assign(folder=files["path"].str.split("/").str[0])
    summary = frame.groupby(["folder", "kind"], sort=False).agg(files=("path", "size"), rows=("rows", "sum"),
                                                                bytes=("bytes", "sum")).reset_index()
    summary["rows"] = summary["rows"].astype(int)
    summary["rows_per_file"] = (summary["rows"] / summary["files"]).round(1)
    summary["bytes_per_row"] = (summary["bytes"] / summary["rows"].where(summary["rows"] > 0)).round(1)
    return summary


def load_alerts(alerts_dir: str | Path) -> pd.DataFrame:
    """The alert sink's CSV file (``alerts.csv``): one row per state change."""
    return pd.read_csv(Path(alerts_dir) / "alerts.csv")


def temp_files(files: pd.DataFrame) -> int:
    """How many temp files of an interrupted write `sink_files` found (0 after a clean run)."""
    return int((files["kind"] == "temp").sum())
