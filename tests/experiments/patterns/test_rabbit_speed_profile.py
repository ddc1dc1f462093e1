"""The profile of issue 17 on the test node: a share table is produced, named and whole (no timing asserts)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from streamlab.bench.drivers.pika_driver import PikaLargeReadsDriver
from streamlab.experiments.patterns import pika_profile as rp
from streamlab.experiments.patterns.rabbitmq_speed import SpeedConfig

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))  # the drivers' smoke run lives with the drivers' tests
from test_rabbit_speed_drivers import smoke


@pytest.mark.rabbitmq
def test_profile_of_a_max_rate_pika_run_has_named_shares_summing_to_100(rabbit_stack):
    wl = SpeedConfig(confirms=100, prefetch=100, ack_every=10).workload("profile", warmup="1s", duration="3s")
    table = rp.profile_max_run(wl, rabbit_stack.endpoints)
    assert set(table["process"]) == {"consumer", "producer"}
    assert table["method"].iloc[0] in ("py-spy", "cProfile")
    for process, rows in table.groupby("process"):
        assert list(rows["component"]) == list(rp.COMPONENTS)
        assert rows["samples"].sum() > 0, process
        assert rows["share_pct"].sum() == pytest.approx(100)
        inside_pika = rows[rows["component"].str.startswith("pika")]["samples"].sum()
        assert inside_pika > 0, f"{process}: no sample inside pika at max rate"


@pytest.mark.rabbitmq
def test_large_reads_driver_delivers_everything(rabbit_stack):
    driver = PikaLargeReadsDriver()
    assert driver.client_settings(smoke())["consumer"]["recv_bytes"] == 16384
    run = driver.run(smoke(rate=300), rabbit_stack.endpoints)
    assert run.error is None
    assert run.sent > 300 and run.sent == run.received
