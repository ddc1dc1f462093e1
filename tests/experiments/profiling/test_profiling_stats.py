"""The profiling helpers write valid profiles and read them back into the tables the chapter shows."""

from __future__ import annotations

import cProfile
import math
import pstats
import time

import pandas as pd
import pytest

from streamlab.experiments.profiling import (
    call_graph_svg,
    icicle_frame,
    line_table,
    loop_summary,
    loop_times,
    top_functions,
)
from streamlab.experiments.profiling.runner import main as runner_main
from streamlab.experiments.profiling.runs import ProfiledRun
from streamlab.experiments.profiling.stats import LINE_COLUMNS, TOP_COLUMNS, stats_frame


def leaf(n: int) -> int:
    return sum(i * i for i in range(n))


def middle(n: int) -> int:
    return sum(leaf(n) for _ in range(20))


def other(n: int) -> int:
    return sum(leaf(n) for _ in range(5))


def workload() -> int:
    return middle(1000) + other(3000)


@pytest.fixture
def prof(tmp_path):
    path = tmp_path / "work.prof"
    profiler = cProfile.Profile()
    profiler.runcall(workload)
    profiler.dump_stats(path)
    return path


@pytest.mark.parametrize("by", ["cumulative", "own", "calls"])
def test_top_functions_tables(prof, by):
    pstats.Stats(str(prof))  # a valid pstats file
    table = top_functions(prof, by=by)
    assert list(table.columns) == TOP_COLUMNS
    assert len(table) == 3 and table["rank"].tolist() == [1, 2, 3]
    column = {"cumulative": "cumulative_s", "own": "own_s", "calls": "calls"}[by]
    assert table[column].is_monotonic_decreasing
    if by == "calls":
        assert table.loc[0, "function"] == "<genexpr>"


def test_top_functions_refuses_unknown_order(prof):
    with pytest.raises(ValueError, match="by must be"):
        top_functions(prof, by="wall")


def test_icicle_frame_nests_callees_inside_callers(prof):
    frame = icicle_frame(prof, min_share=0.0)
    assert {"function", "depth", "start", "end", "share"} <= set(frame.columns)
    leaf_rows = frame[frame["function"] == "leaf"]
    middle_rows = frame[frame["function"] == "middle"]
    assert not leaf_rows.empty and not middle_rows.empty
    m = middle_rows.iloc[0]
    inside = leaf_rows[(leaf_rows["depth"] == m["depth"] + 1)]
    assert ((inside["start"] >= m["start"] - 1e-12) & (inside["end"] <= m["end"] + 1e-12)).all()
    assert frame["end"].max() <= 1.0 + 1e-9


def test_call_graph_svg(prof, tmp_path):
    svg = call_graph_svg(prof, tmp_path / "work.svg", node_threshold=0.1)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "middle" in text


def test_line_table_has_the_expected_columns(tmp_path):
    from line_profiler import LineProfiler

    profiler = LineProfiler()
    profiler.add_function(leaf)
    profiler.enable()
    workload()
    profiler.disable()
    profiler.dump_stats(str(tmp_path / "work.lprof"))
    table = line_table(tmp_path / "work.lprof")
    assert list(table.columns) == LINE_COLUMNS
    assert set(table["function"]) == {"leaf"}
    assert table["pct_time"].sum() == pytest.approx(100.0)
    assert "range(n)" in table["source"].iloc[0]


def test_runner_writes_a_profile_even_when_the_service_fails(tmp_path):
    prof = tmp_path / "health_processor.prof"
    code = runner_main(["health_processor", "--prof", str(prof), "--", "--client", "no-such-client",
                        "--data-dir", str(tmp_path), "--duration", "1"])
    assert code == 2
    assert pstats.Stats(str(prof)).total_calls > 0


def test_loop_times_and_summary():
    runs = [ProfiledRun("health_processor", "unthrottled", i, None,
                        pd.DataFrame({"processed_per_s": [0.0, 900.0, 1000.0 + i, 1000.0 - i, 500.0]}), 100)
            for i in range(5)]
    times = loop_times(runs)
    assert times[times["run"] == 0]["records_per_s"].tolist() == [900.0, 1000.0, 1000.0, 500.0]  # idle left out
    summary = loop_summary(times)
    assert summary.loc[0, "runs"] == 5
    assert summary.loc[0, "mean_us"] == pytest.approx(1e6 * (1 / 900 + 2 / 1000 + 1 / 500) / 4, rel=0.01)


def test_call_graph_svg_from_a_root(prof, tmp_path):
    svg = call_graph_svg(prof, tmp_path / "rooted.svg", node_threshold=0.1,
                         root=f"test_profiling_stats:{other.__code__.co_firstlineno}:other")
    text = svg.read_text()
    assert f"test_profiling_stats:{other.__code__.co_firstlineno}<" in text
    assert f"test_profiling_stats:{middle.__code__.co_firstlineno}<" not in text   # not below the root


def test_targets_are_read_from_the_fast_path_medians():
    import pandas as pd

    from streamlab.experiments.profiling import against_targets, targets_met

    ratios = pd.DataFrame({"client": ["confluent", "kafka-python"], "records_per_s batch": [60_000.0, 8_000.0],
                           "per_core_records_per_s batch": [70_000.0, 12_000.0]})
    verdict = against_targets(ratios)
    assert verdict["met (wall clock)"].tolist() == [True, False]
    assert verdict["met (per CPU-second)"].tolist() == [True, True]
    assert targets_met(verdict) == 1


def test_cpu_per_record_is_unknown_when_the_run_ends_within_one_clock_tick():
    from streamlab.experiments.profiling.runs import cpu_per_record_us

    assert cpu_per_record_us((1.00, 100), (1.50, 5100)) == pytest.approx(100.0)   # 0.5 s for 5000 records
    assert math.isnan(cpu_per_record_us((1.00, 100), (1.00, 2000)))    # no tick counted: unknown, not 0
    assert math.isnan(cpu_per_record_us((1.00, 100), (1.20, 100)))     # no record in between
    assert math.isnan(cpu_per_record_us(None, (1.20, 100)))


def test_a_stalled_processor_is_measured_again_and_the_row_says_so(monkeypatch):
    from streamlab.experiments.profiling import runs

    calls = []

    def stalls_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise runs.ProcessorStalled("read nothing in 90 s")
        return {"records_per_s": 1000.0}

    monkeypatch.setattr(runs, "measure_processor_rate", stalls_once)
    assert runs.processor_rate("kafka-python", 10, "batch") == {"records_per_s": 1000.0, "attempts": 2}
    assert len(calls) == 2

    def always_stalls(*args):
        raise runs.ProcessorStalled("read nothing in 90 s")

    monkeypatch.setattr(runs, "measure_processor_rate", always_stalls)
    with pytest.raises(runs.ProcessorStalled):
        runs.processor_rate("kafka-python", 10, "batch", attempts=2)


def test_a_service_logs_warnings_are_what_a_failure_quotes(tmp_path):
    from streamlab.experiments.profiling.runs import _warnings

    log = tmp_path / "processor.log"
    log.write_text("10:00:00.000 INFO streamlab.health-processor uptime_s=1\n"
                   "10:00:01.000 WARNING kafka.coordinator Heartbeat failed: NotCoordinator\n"
                   "10:00:02.000 INFO streamlab.health-processor uptime_s=2\n")
    assert _warnings(log) == "10:00:01.000 WARNING kafka.coordinator Heartbeat failed: NotCoordinator"
    log.write_text("a INFO x\nb INFO y\n")
    assert _warnings(log) == "a INFO x\nb INFO y"


def test_the_measurements_that_were_retried_are_counted():
    from streamlab.experiments.profiling import retried

    rows = pd.DataFrame({"client": ["confluent", "kafka-python"], "scoring": ["batch", "per-record"],
                         "attempts": [1, 2]})
    assert retried(rows.assign(attempts=1)) == 0
    assert retried(rows) == 1


class _SlowStartTransport:
    """The in-memory transport, its publisher's warm-up waiting as an idempotent librdkafka producer's does
    before its first send (`IDEMPOTENT_START_S`)."""

    def publisher(self, client_id: str, **_options):
        from streamlab.transport.kafka_confluent import IDEMPOTENT_START_S
        from streamlab.transport.memory import MemoryPublisher

        class SlowStart(MemoryPublisher):
            def warm_up(self, topics, timeout=10.0):
                time.sleep(IDEMPOTENT_START_S)

        return SlowStart()


def _sleep_s(prof) -> float:
    frame = stats_frame(prof)
    return float(frame.loc[frame["function"] == "<built-in method time.sleep>", "own_s"].sum())


@pytest.mark.parametrize("from_counter", [None, "sent"])
def test_the_profile_starts_after_the_first_record_leaving_the_start_up_wait_out(tmp_path, monkeypatch,
                                                                               from_counter):
    """The telemetry generator, unthrottled, over a transport whose publisher waits IDEMPOTENT_START_S
    before the first send: profiled from its first record (``--from sent``, what the chapter's runs pass),
    the wait is outside the window and said to be (startup_s); profiled whole, it is inside."""
    from streamlab.experiments.profiling.runs import profiler_args, read_window
    from streamlab.services.common import Metrics, ServiceOptions
    from streamlab.transport.kafka_confluent import IDEMPOTENT_START_S

    monkeypatch.setattr(ServiceOptions, "transport", lambda self: _SlowStartTransport())
    prof = tmp_path / "telemetry_generator.prof"
    flags = profiler_args("telemetry_generator", prof) if from_counter else ["--prof", str(prof)]
    code = runner_main(["telemetry_generator", *flags, "--", "--data-dir", str(tmp_path), "--machines", "20",
                        "--rate", "1000000", "--max-messages", "2000"])
    assert code == 0
    window = read_window(prof)
    assert Metrics.count.__name__ == "count" and Metrics.count.__qualname__ == "Metrics.count"  # put back
    if from_counter:
        assert window["started"] and window["startup_s"] >= IDEMPOTENT_START_S
        assert _sleep_s(prof) < IDEMPOTENT_START_S / 2, "the start-up wait is inside the profiled window"
        assert "warm_up" not in set(stats_frame(prof)["function"])
    else:
        assert _sleep_s(prof) >= IDEMPOTENT_START_S


def test_pictures_of_a_profile_that_began_inside_the_loop(tmp_path):
    """The runner starts profiling at a service's first record, inside its loop: the loop function has no
    entry in the profile, so the pictures start at the calls it makes (what chapter 04 draws)."""
    profiler = cProfile.Profile()

    def loop() -> None:
        for i in range(30):
            if i == 1:
                profiler.enable()
            middle(300)
            other(300)
        profiler.disable()

    loop()
    prof = tmp_path / "loop.prof"
    profiler.dump_stats(str(prof))
    assert "loop" not in set(stats_frame(prof)["function"])
    tops = icicle_frame(prof, min_share=0.0)
    assert {"middle", "other"} <= set(tops.loc[tops["depth"] == 0, "function"])
    assert "leaf" in set(tops.loc[tops["depth"] > 0, "function"])
    assert "middle" in call_graph_svg(prof, tmp_path / "loop.svg", node_threshold=0.1).read_text()


def _wide_profile(path, functions: int, depth: int = 5):
    """A profile whose top function calls ``functions`` siblings of equal weight, each the head of a chain of
    ``depth`` functions with long names: too wide for the column drawn top-down, too deep drawn left-right."""
    namespace: dict = {}
    for i in range(functions):
        for level in reversed(range(depth)):
            body = (f"score_the_batch_of_group_{i}_level_{level + 1}(n)" if level + 1 < depth
                    else "sum(i * i for i in range(n))")
            exec(f"def score_the_batch_of_group_{i}_level_{level}(n):\n    return {body}", namespace)
    exec("def top():\n    return " + " + ".join(f"score_the_batch_of_group_{i}_level_0(20000)"
                                              for i in range(functions)), namespace)
    profiler = cProfile.Profile()
    profiler.runcall(namespace["top"])
    profiler.dump_stats(path)
    return path


def _font_sizes(svg_text: str) -> set[float]:
    import re

    return {float(size) for size in re.findall(r'font-size="([\d.]+)"', svg_text)}


def test_a_small_call_graph_keeps_the_threshold_asked_for_and_body_size_text(prof, tmp_path):
    from streamlab.experiments.profiling.stats import GRAPH_FONT_PT, GRAPH_MAX_WIDTH_PX, call_graph

    graph = call_graph(prof, tmp_path / "work.svg", node_threshold=2.0)
    text = graph.svg.read_text()
    assert graph.node_threshold == 2.0 and graph.width_px <= GRAPH_MAX_WIDTH_PX
    assert _font_sizes(text) == {GRAPH_FONT_PT}  # every text of the picture, boxes and caption alike
    assert "snakeviz work.prof" in text and "at least 2 % of the profile" in text


def test_a_call_graph_too_wide_for_the_column_is_pruned_further_until_it_fits(tmp_path):
    from streamlab.experiments.profiling.stats import GRAPH_FONT_PT, GRAPH_MAX_WIDTH_PX, call_graph

    prof = _wide_profile(tmp_path / "wide.prof", 12)  # twelve siblings of about 8 % each
    graph = call_graph(prof, tmp_path / "wide.svg", node_threshold=2.0)
    text = graph.svg.read_text()
    assert graph.width_px <= GRAPH_MAX_WIDTH_PX and _font_sizes(text) == {GRAPH_FONT_PT}
    assert graph.node_threshold > 2.0 and f"at least {graph.node_threshold:g} %" in text
    # what a wider column would show: the siblings, drawn at the asked threshold
    wide = call_graph(prof, tmp_path / "wider.svg", node_threshold=2.0, max_width_px=10_000)
    assert wide.node_threshold == 2.0 and wide.nodes > graph.nodes


def test_the_icicle_names_its_blocks_at_body_size_and_says_how_to_explore_it(prof):
    import altair as alt

    from streamlab.plots import WIDTH
    from streamlab.plots.fit import EM_REGULAR
    from streamlab.plots.profiling import ICICLE_FONT_PX, icicle, icicle_labels

    frame = icicle_frame(prof)
    assert frame["share"].min() >= 0.02  # pruned as the call graph is
    chart = icicle(frame, "Work")
    spec = chart.to_dict()
    assert "snakeviz work.prof" in str(spec["title"]["subtitle"])
    texts = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
    assert texts and all(layer["mark"]["fontSize"] >= ICICLE_FONT_PX for layer in texts)
    labels = icicle_labels(frame)
    room = frame["share"] * WIDTH
    assert (labels.str.len() * ICICLE_FONT_PX * EM_REGULAR <= room).all()  # a name never runs past its block
    assert isinstance(chart, alt.LayerChart)
