"""The scoring-path crossover measures the processor's own code on both paths and reads the crossover right."""

from __future__ import annotations

import pandas as pd
import pytest

from streamlab.codecs import get_codec
from streamlab.domain import TelemetryReading
from streamlab.domain.health import FEATURE_NAMES
from streamlab.experiments.profiling import crossover, crossover_point, crossover_summary, scoring_crossover
from streamlab.experiments.profiling.crossover import joined_scorer, telemetry_runs


def test_runs_hold_the_asked_readings_per_machine():
    runs = telemetry_runs(machines=3, per_machine=4, runs=2)
    assert [len(run) for run in runs] == [12, 12]
    assert all(sum(r.key == b"M000" for r in run) == 4 for run in runs)
    offsets = [r.offset for run in runs for r in run]
    assert offsets == sorted(set(offsets)), "consecutive, distinct offsets: one stream, cut into runs"


def test_both_paths_are_measured_per_run_size():
    samples = scoring_crossover(per_machine=(1, 8), machines=3, runs=2, warmup=1)
    assert set(samples["path"]) == {"per-record", "vectorised"}
    assert len(samples) == 2 * 2 * 2
    assert samples["us_per_reading"].notna().all()
    assert set(samples["run_records"]) == {3, 24}
    summary = crossover_summary(samples)
    assert list(summary["readings_per_machine"]) == [1, 8]
    assert set(summary["faster"]) <= {"per-record", "vectorised"}


@pytest.mark.parametrize("vectorised", [False, True], ids=["per-record", "vectorised"])
def test_what_is_timed_is_the_processor_scoring_every_reading(vectorised, tmp_path, monkeypatch):
    """A time per reading means something only if the timed code scored each reading: every reading of
    every run is processed (none dead-lettered) on the path asked for, and the last run's health records
    are all published."""
    made = []

    def spying(*args, **kwargs):
        made.append(crossover._processor.__wrapped__(*args, **kwargs))
        return made[-1]

    spying.__wrapped__ = crossover._processor
    monkeypatch.setattr(crossover, "_processor", spying)
    runs = telemetry_runs(machines=3, per_machine=4, runs=3)
    seconds = crossover.time_runs(vectorised, runs, tmp_path)
    (processor, options), = made
    assert len(seconds) == len(runs)
    assert processor.batch_scoring is vectorised
    assert processor.metrics.counters.get("processed") == sum(map(len, runs))
    assert not processor.metrics.counters.get("dead_lettered")
    health = options.memory.publisher_.on(processor.health_topic)
    assert sorted(record[1] for record in health) == sorted(r.key.decode() for r in runs[-1])


def _summary(speedups: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"readings_per_machine": [1, 2, 4, 8][:len(speedups)],
                         "faster": ["vectorised" if s > 1 else "per-record" for s in speedups]})


def test_the_crossover_is_where_vectorising_stays_faster():
    assert crossover_point(_summary([0.1, 0.5, 1.2, 1.5])) == 4
    assert crossover_point(_summary([0.1, 1.1, 0.9, 1.5])) == 8, "a lucky small size is no crossover"
    assert crossover_point(_summary([0.1, 0.5])) is None



def test_the_measured_scorer_knows_every_machines_bands():
    """A verdict joins both streams: without the bands both paths would measure records with no features."""
    scorer = joined_scorer(machines=3)
    decode = get_codec("orjson").decode
    records = [scorer.on_telemetry(decode(r.value, TelemetryReading))[0]
               for r in telemetry_runs(machines=3, per_machine=60, runs=1)[0]]
    assert set(records[-1].features) == set(FEATURE_NAMES)
