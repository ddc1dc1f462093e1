"""Sweeps: one workload, a grid of changed fields, every driver at every point, one tidy frame.

    frame = sweep("max-throughput-100b", "confluent-kafka,kafka-perf-test",
                  {"message_size": [100, 1000, 10000], "partitions": [1, 6]}, duration="5s")
    sweep_table(frame, x="message_size", metric="mb_per_s", role="producer")

The frame is `run_bench`'s tidy results for every grid point, concatenated, with
one `sweep_<field>` column per swept field holding its parsed value (bytes,
records/s, seconds), so altair can put a field on an axis and the driver on colour.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .bench import RESULTS_ROOT, run_bench
from .workload import WorkloadError, as_workload

_ATTRIBUTE = {"warmup": "warmup_s", "duration": "duration_s", "size": "message_size"}


def _swept_value(workload, key: str) -> Any:
    if key == "rate":
        return workload.rate if workload.rate is not None else (
            f"{workload.rate_fraction * 100:g}%" if workload.rate_fraction is not None else "max")
    return getattr(workload, _ATTRIBUTE.get(key, key))


def sweep(workload: Any, drivers: str | list[str], grid: dict[str, Iterable[Any]], *, duration: Any = None,
          warmup: Any = None, endpoints: Any = None, save: bool = True, out_dir: Path | str | None = None,
          progress: bool = True) -> pd.DataFrame:
    """Run `drivers` at every point of `grid` (the product of its value lists); a tidy DataFrame.

    Each point is one `run_bench` (drivers in turn, same stack). Saved as `sweep.parquet`/`.csv`
    under `data/results/bench/<id>-sweep/` unless `save=False`.
    """
    base = as_workload(workload)
    if not grid:
        raise WorkloadError("sweep: the grid is empty; give at least one field with a list of values")
    keys = list(grid)
    values = [list(v) for v in grid.values()]
    for key, options in zip(keys, values):
        if not options:
            raise WorkloadError(f"sweep: field {key!r} has no values")
    points = list(itertools.product(*values))
    sweep_id = time.strftime("%Y%m%d-%H%M%S") + "-sweep"
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(points), desc="sweep", unit="point", disable=None)   # None: no bar off a terminal
    frames = []
    try:
        for index, point in enumerate(points, 1):
            changes = dict(zip(keys, point))
            label = ",".join(f"{k}={v}" for k, v in changes.items())
            wl = base.replace(**changes)
            if bar is not None:
                bar.set_postfix_str(label)
            bench = run_bench(wl, drivers, duration=duration, warmup=warmup, endpoints=endpoints, save=False,
                              progress=False, bench_id=f"{sweep_id}-{index:03d}")
            frame = bench.results.copy()
            for key in keys:
                frame[f"sweep_{key}"] = [_swept_value(bench.workload, key)] * len(frame)
            frame["sweep_point"] = label
            frames.append(frame)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    result = pd.concat(frames, ignore_index=True)
    if save:
        out = Path(out_dir) if out_dir is not None else RESULTS_ROOT / sweep_id
        out.mkdir(parents=True, exist_ok=True)
        result.to_parquet(out / "sweep.parquet", index=False)
        result.to_csv(out / "sweep.csv", index=False)
        result.attrs["out_dir"] = str(out)
    return result


def sweep_table(frame: pd.DataFrame, x: str, metric: str = "records_per_s", role: str = "producer",
                by: tuple[str, ...] = ("driver", "broker")) -> pd.DataFrame:
    """The rows of one metric, ready to plot: `x` (a swept field), the `by` columns and `value`."""
    column = x if x in frame.columns and not x.startswith("sweep_") and f"sweep_{x}" not in frame else f"sweep_{x}"
    if column not in frame:
        raise KeyError(f"{x!r} was not swept; swept: {[c[6:] for c in frame.columns if c.startswith('sweep_')]}")
    rows = frame[(frame["metric"] == metric) & (frame["role"] == role)]
    other = [c for c in frame.columns if c.startswith("sweep_") and c not in (column, "sweep_point")]
    out = rows[[column, *other, *by, "value"]].rename(columns={column: x})
    return out.sort_values([*by, x]).reset_index(drop=True)


__all__ = ["sweep", "sweep_table"]
