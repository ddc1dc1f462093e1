"""The reflection's scorecard reads each chapter's saved verdict back, and says when one is missing."""

from __future__ import annotations

import pandas as pd

from streamlab.experiments.profiling import against_targets
from streamlab.experiments.profiling.hops import against_reference, hop_latencies
from streamlab.experiments.reflection.scorecard import targets_scorecard


def _write(folder, chapter: str, name: str, frame: pd.DataFrame) -> None:
    (folder / f"{chapter}_files").mkdir(exist_ok=True)
    frame.to_csv(folder / f"{chapter}_files" / name, index=False)


def test_the_scorecard_reads_the_verdicts_the_chapters_save(tmp_path):
    ratios = pd.DataFrame({"client": ["confluent", "kafka-python"], "records_per_s batch": [30_000.0, 12_000.0],
                           "per_core_records_per_s batch": [40_000.0, 13_000.0]})
    _write(tmp_path, "04-profiling", "throughput-targets.csv", against_targets(ratios))
    base = 1_700_000_000_000_000_000
    health = pd.DataFrame({"source_ts_ns": [base] * 100, "ts_ns": [base + 3_000_000] * 100,
                           "sink_received_ns": [base + 30_000_000] * 100, "sink_ts_ns": [base + 40_000_000] * 100})
    reference = pd.DataFrame([{"setting": "Kafka EndToEndLatency", "hop": "one hop (Java tool)", "metric": m,
                               "value": 2.0, "records": 100} for m in ("p50_ms", "p99_ms")])
    summary = pd.concat([hop_latencies(health, "after"), reference], ignore_index=True)
    _write(tmp_path, "04-profiling", "hop-targets.csv", against_reference(summary))
    card = targets_scorecard(tmp_path).set_index("figure")
    assert card.loc["processor records/s (wall clock), confluent", "met"] is False
    assert card.loc["processor records/s (wall clock), kafka-python", "met"] is True
    assert card.loc["processor records/s (wall clock), confluent", "measured"] == "30,000"
    assert card.loc["hop generator → processor, p50 ÷ Kafka's tool", "met"] is True      # 3 ms ÷ 2 ms
    assert card.loc["hop processor → sink, p50 ÷ Kafka's tool", "met"] is False           # 27 ms ÷ 2 ms
    assert card.loc["rabbitmq-speed.csv (not in this build)", "chapter"] == "03"


def test_an_empty_folder_lists_every_source_as_missing(tmp_path):
    card = targets_scorecard(tmp_path)
    assert len(card) == 3 and card["met"].isna().all()


def test_rabbitmq_ratios_keep_their_targets_and_verdicts(tmp_path):
    from streamlab.experiments.patterns.rabbitmq_speed import SPEED_COLUMNS

    table = pd.DataFrame([["max publish rec/s, 100 B", "quorum, confirms", 9000.0, 8000.0, 10000.0, 0.9, "≥ 0.8×",
                           True],
                          ["e2e p99 ms", "1,000 msg/s", 12.0, 14.0, 3.0, 4.0, "≤ 3×", False],
                          ["e2e p50 ms", "5,000 msg/s", float("nan"), 1.0, 1.0, float("nan"), "≤ 2×", None]],
                         columns=SPEED_COLUMNS)
    _write(tmp_path, "03-communication-patterns", "rabbitmq-speed.csv", table)
    card = targets_scorecard(tmp_path)
    rabbit = card[card["chapter"] == "03"].set_index("figure")
    assert rabbit["met"].tolist() == [True, False, None]
    assert rabbit.loc["e2e p99 ms (1,000 msg/s), pika ÷ reference", "measured"] == "4.00×"


def test_the_headline_figures_are_the_scorecard_s_numbers(tmp_path):
    from streamlab.experiments.reflection.scorecard import headline_figures

    ratios = pd.DataFrame({"client": ["confluent"], "records_per_s batch": [30_000.0],
                           "per_core_records_per_s batch": [40_000.0]})
    _write(tmp_path, "04-profiling", "throughput-targets.csv", against_targets(ratios))
    figures = headline_figures(tmp_path).set_index("figure")
    assert figures.loc["processor records/s (wall clock), confluent", "value"] == 30_000.0
    assert figures.loc["processor records/s (wall clock), confluent", "unit"] == "records/s"
    assert len(figures) == 1                              # the missing chapters give no number to record
    assert list(targets_scorecard(tmp_path).columns) == ["chapter", "figure", "measured", "target", "met"]


def test_the_summaries_add_chapter_01_latencies_and_chapter_02_s_producer_ratio(tmp_path):
    from streamlab.experiments.reflection.scorecard import headline_figures

    latency = pd.DataFrame({"records sent": ["whole run", "after 5 s"], "stage": ["generator → processor"] * 2,
                            "records": [100, 90], "p50_ms": [300.0, 229.0], "p99_ms": [2000.0, 1515.0]})
    _write(tmp_path, "01-application", "latency-summary.csv", latency)
    send = pd.DataFrame({"point": ["100 B, acks=all, linger 5 ms", "100 B, acks=all, linger 5 ms", "1 KB, x"],
                         "driver": ["confluent-kafka", "kafka-perf-test", "confluent-kafka"],
                         "ratio_to_java": [0.86, 1.0, 0.5]})
    _write(tmp_path, "02-kafka-deep-dives", "dd2-send-limits.csv", send)
    figures = headline_figures(tmp_path).set_index("figure")
    assert figures.loc["ch01 generator → processor p50 (after warm-up)", "value"] == 229.0
    assert figures.loc["ch01 generator → processor p99 (after warm-up)", "unit"] == "ms"
    assert figures.loc["ch02 confluent-kafka ÷ kafka-producer-perf-test (100 B, acks=all, linger 5 ms)",
                       "value"] == 0.86
    assert len(figures) == 3
