"""The "RabbitMQ at the speed of RabbitMQ" tables and charts from synthetic bench rows (no broker)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from streamlab.bench.drivers.rabbitmq_perftest import RabbitPerfTestDriver
from streamlab.bench.workload import workload_from_dict
from streamlab.experiments.patterns import rabbitmq_speed as rs


def row(experiment, driver, role, metric, value, **extra):
    base = {"experiment": experiment, "driver": driver, "role": role, "metric": metric, "value": value,
            "message_size": 100, "target_rate": math.nan, "rate": "max", "queue_type": "quorum"}
    return {**base, **extra}


@pytest.fixture
def results() -> pd.DataFrame:
    rows = []
    for driver, pub, cons in (("pika", 8000, 7000), ("aio-pika", 900, 880), ("rabbitmq-perftest", 10000, 10000)):
        rows += [row("throughput", driver, "producer", "records_per_s", pub),
                 row("throughput", driver, "consumer", "records_per_s", cons)]
    for driver, p50, p99 in (("pika", 3.0, 40.0), ("aio-pika", 30.0, 400.0), ("rabbitmq-perftest", 2.0, 10.0)):
        rows += [row("latency", driver, "e2e", "p50_ms", p50, rate="1000/s", target_rate=1000.0),
                 row("latency", driver, "e2e", "p99_ms", p99, rate="1000/s", target_rate=1000.0)]
    for queue_type in ("classic", "stream"):
        for driver in ("pika", "rabbitmq-perftest"):
            rows += [row("queue_types", driver, "producer", "records_per_s", 5000, queue_type=queue_type),
                     row("queue_types", driver, "node", "node_rss_mb_peak", 600, queue_type=queue_type),
                     row("queue_types", driver, "e2e", "p50_ms", 2.5, queue_type=queue_type, rate="500/s",
                         target_rate=500.0)]
    rows += [row("app_raw", "pika", "e2e", "p50_ms", 4.0, rate="200/s", target_rate=200.0),
             row("app_raw", "pika", "e2e", "p99_ms", 20.0, rate="200/s", target_rate=200.0)]
    return pd.DataFrame(rows)


@pytest.fixture
def app() -> pd.DataFrame:
    return pd.DataFrame([{"hop": hop, "metric": metric, "value": value, "rate": 200.0}
                         for hop, metric, value in (("generator → processor", "p50_ms", 6.0),
                                                    ("generator → processor", "p99_ms", 100.0),
                                                    ("sink → on disk", "p50_ms", 500.0))])


def test_speed_table_ratios_and_targets(results, app):
    table = rs.speed_table(results, app).set_index(["figure", "setting"])
    publish = table.loc[("max publish rec/s, 100 B", "quorum, confirms")]
    assert publish["ratio"] == pytest.approx(0.8) and publish["met"] and publish["aio_pika"] == 900
    consume = table.loc[("max consume rec/s, 100 B", "quorum, concurrent")]
    assert consume["ratio"] == pytest.approx(0.7) and not consume["met"]
    p50 = table.loc[("e2e p50 ms", "1,000 msg/s")]
    assert p50["ratio"] == pytest.approx(1.5) and p50["met"]       # latency: at most the target
    p99 = table.loc[("e2e p99 ms", "1,000 msg/s")]
    assert p99["ratio"] == pytest.approx(4.0) and not p99["met"]
    hop50 = table.loc[("app hop generator → processor, p50 ms", "200 msg/s; vs raw pika")]
    assert hop50["perftest"] == 4.0 and hop50["ratio"] == pytest.approx(1.5) and hop50["met"]
    assert not any("on disk" in figure for figure, _ in table.index)        # no broker hop: not compared
    assert rs.verdict(rs.speed_table(results, app)) == "3 of 6 figures meet their target"
    assert rs.verdict(rs.speed_table(results, app), rs.config_for("full")) == "3 of 6 figures meet their target"
    # quick's session (one round of 2-s runs) judges nothing
    quick = rs.verdict(rs.speed_table(results, app), rs.config_for("quick"))
    assert quick == ("no conclusion: the run lasted 2.00 s, under its minimum of 5 s; the run lasted 2.00 s, "
                     "under 10× its 0.5-s tick; the comparison has 1 repetition on one side, under the minimum of 3")


def test_speed_table_of_nothing_has_the_columns():
    assert list(rs.speed_table(pd.DataFrame())) == rs.SPEED_COLUMNS


def test_queue_type_table_orders_types_and_keeps_memory(results):
    table = rs.queue_type_table(results)
    assert list(table["queue_type"]) == ["classic", "classic", "stream", "stream"]
    assert (table["node_rss_mb_peak"] == 600).all()
    assert (table["fixed_rate"] == 500).all() and (table["e2e_p50_ms"] == 2.5).all()


def test_queue_type_table_not_measured_keeps_its_columns():
    assert list(rs.queue_type_table(pd.DataFrame({"experiment": []}))) == rs.QUEUE_TYPE_COLUMNS


def test_half_of_the_slower_max_ignores_aio_pika(results):
    assert rs.half_of_slower_max(results) == 4000          # pika 8000 < PerfTest 10000; aio-pika's 900 ignored
    assert rs.half_of_slower_max(results, size=1000) is None


def test_the_same_workload_for_every_driver():
    cfg = rs.SpeedConfig()
    wl = cfg.workload("x", rate=2000)
    assert (wl.queue_type, wl.confirms, wl.prefetch, wl.ack_every, wl.phases) == ("quorum", 1000, 1000, 100,
                                                                                   "concurrent")
    args = RabbitPerfTestDriver.arguments(wl, "amqp://x", "q")
    assert args[args.index("-c") + 1] == "1000" and args[args.index("-r") + 1] == "2000" and "-qq" in args


def test_perftest_gets_a_stream_queue():
    wl = workload_from_dict({"name": "s", "queue_type": "stream", "prefetch": 100})
    args = RabbitPerfTestDriver.arguments(wl, "amqp://x", "q")
    assert "-sq" in args and "-qq" not in args and args[args.index("-sco") + 1] == "first"


def test_charts_build(results, app):
    from streamlab.plots import rabbitmq_speed

    ratio = rabbitmq_speed.ratio_chart(rs.speed_table(results, app)).to_dict()
    assert len(ratio["layer"]) == 3
    latency = rabbitmq_speed.latency_chart(results).to_dict()
    assert latency["encoding"]["column"]["field"] == "percentile"


RAW = "\n".join([
    "<module> (/x/multiprocessing/spawn.py:1);consumer_main (/w/streamlab/bench/drivers/pika_driver.py:5);"
    "start (/v/site-packages/pika/adapters/select_connection.py:9);_on_data_available (/v/site-packages/pika/"
    "connection.py:4);decode_frame (/v/site-packages/pika/frame.py:3) 10",
    "<module> (/x/multiprocessing/spawn.py:1);_deliver (/v/site-packages/pika/channel.py:4);"
    "on_message (/w/streamlab/bench/drivers/pika_driver.py:3);append_ns (/v/site-packages/hdrh/h.py:2) 5",
    "_consume (/v/site-packages/pika/adapters/utils/io_services_utils.py:1);"
    "_sigint_safe_recv (/v/site-packages/pika/adapters/utils/io_services_utils.py:2) 3",
    "poll (/v/site-packages/pika/adapters/select_connection.py:7) 1",
    "<module> (/x/importlib/_bootstrap.py:1) 1",
])


def test_profile_shares_by_innermost_pika_or_own_frame():
    from streamlab.experiments.patterns import pika_profile as rp

    table = rp.shares_from_raw(RAW, "consumer", within=None).set_index("component")
    assert list(table.index) == list(rp.COMPONENTS)
    assert table.loc["pika frame codec", "samples"] == 10
    assert table.loc["our code", "samples"] == 5               # HdrHistogram called from our callback is ours
    assert table.loc["socket send/recv", "samples"] == 3
    assert table.loc["pika I/O loop", "samples"] == 1 and table.loc["other", "samples"] == 1
    assert table["share_pct"].sum() == pytest.approx(100)
    looped = rp.shares_from_raw(RAW, "consumer")                # only samples inside pika's IOLoop count
    assert looped["samples"].sum() == 11 and looped["share_pct"].sum() == pytest.approx(100)
    # a venv inside a checkout named streamlab still counts pika as pika
    assert rp.classify_frame("decode_frame", "/home/streamlab/.venv/site-packages/pika/frame.py") == "pika frame codec"


def test_profile_facts_and_chart():
    from streamlab.experiments.patterns import pika_profile as rp
    from streamlab.plots import rabbitmq_speed

    profile = pd.concat([rp.shares_from_raw(RAW, "consumer", within=None),
                         rp.shares_from_raw(RAW, "producer", within=None)])
    facts = rs.profile_facts(profile)
    assert facts["profile_consumer_codec"] == pytest.approx(50) and facts["profile_producer_codec"] == pytest.approx(50)
    assert facts["profile_consumer"] >= facts["profile_consumer_codec"] + facts["profile_consumer_dispatch"]
    assert facts["profile_bound"] == pytest.approx(100 / (100 - facts["profile_per_frame"]))
    assert rabbitmq_speed.profile_chart(profile).to_dict()["encoding"]["row"]["field"] == "process"
    assert rs.profile_facts(pd.DataFrame()) == {"profile_method": "none"}


def test_large_reads_table_beside_plain_pika(results):
    more = pd.DataFrame([row("throughput", "pika-recv16k", "producer", "records_per_s", 8000),
                         row("throughput", "pika-recv16k", "consumer", "records_per_s", 7700)])
    table = rs.large_reads_table(pd.concat([results, more]))
    assert list(table["driver"]) == ["pika", "pika-recv16k"]
    assert table["consume_vs_pika"].iloc[1] == pytest.approx(1.1)
    assert rs.large_reads_facts(pd.concat([results, more]))["large_reads"] == pytest.approx(1.1)
    assert rs.large_reads_facts(results) == {}
    assert rs.large_reads_table(results).empty


def test_facts_count_the_hops_within_twice_raw_pika(results, app):
    facts = rs.facts(rs.SpeedResult(results, app, rs.config_for("full")))
    assert facts["app"] == 1 and facts["app_hops"] == 2
    assert facts["missed"] == facts["judged"] - 3 and facts["verdict"] == "3 of 6 figures meet their target"
    assert rs.facts(rs.SpeedResult(results, pd.DataFrame(), rs.config_for("quick")))["app_hops"] == 0


def test_shadow_rows_and_facts_place_the_sink_tail_against_its_writes(results, app):
    shadow = pd.DataFrame({"records": ["all records", "slowest 5 %", "slowest 1 %"], "count": [1000, 50, 10],
                           "in write shadow %": [8.0, 60.0, 90.0], "median hop ms": [3.0, 40.0, 90.0]})
    rows = rs.shadow_rows(shadow)
    assert set(rows["metric"]) == set(rs.SHADOW_METRICS.values()) and set(rows["hop"]) == {"processor → sink"}
    sink = pd.DataFrame([{"hop": "processor → sink", "metric": m, "value": v, "rate": 200.0}
                         for m, v in (("p50_ms", 5.0), ("p99_ms", 110.0))])
    app = pd.concat([app, sink], ignore_index=True)
    with_shadow = pd.concat([app, rows], ignore_index=True)
    assert rs.speed_table(results, with_shadow).equals(rs.speed_table(results, app)), "p50/p99 rows only"
    facts = rs.facts(rs.SpeedResult(results, with_shadow, rs.config_for("full")))
    assert facts["app_shadow_tail"] == 90.0 and facts["app_shadow_all"] == 8.0
    assert "app_shadow_tail" not in rs.facts(rs.SpeedResult(results, app, rs.config_for("full")))
