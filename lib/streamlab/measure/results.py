"""Result bundles: the tidy tables (and the small files beside them) an experiment or a bench leaves in a folder.

One home for the writing that `BenchResult.save`, the RabbitMQ speed result, the codec bench and the
cluster tour each did their own way: a table as ``<name>.csv`` and/or ``<name>.parquet``, a JSON
or text file beside it, the folder created first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

FORMATS = ("csv", "parquet")


def bundle_dir(folder: Path | str) -> Path:
    """The folder, created."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_table(frame: pd.DataFrame, folder: Path | str, name: str,
                formats: Sequence[str] = ("csv",)) -> list[Path]:
    """``frame`` as ``<name>.<format>`` for each format, without the index; returns the paths in that order."""
    out = bundle_dir(folder)
    paths = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown table format {fmt!r}: one of {', '.join(FORMATS)}")
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        paths.append(path)
    return paths


def write_json(data: Any, folder: Path | str, name: str) -> Path:
    """``data`` as indented JSON in ``<name>`` (values JSON cannot hold are written as their str)."""
    path = bundle_dir(folder) / name
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def write_text(text: str, folder: Path | str, name: str) -> Path:
    path = bundle_dir(folder) / name
    path.write_text(text)
    return path
