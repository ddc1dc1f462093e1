"""The machine's facts and load, as every figure reports them."""

from __future__ import annotations

import os

from streamlab.measure.machine import MachineCpu, cpu_model, machine_facts, sample_cpu_load


def test_facts_describe_this_machine():
    facts = machine_facts()
    assert facts["logical cores"] == (os.cpu_count() or facts["logical cores"])
    assert facts["memory (GiB)"] > 0 and facts["cpu"] == cpu_model() and cpu_model()


def test_cpu_load_is_one_row_per_core_and_sample():
    load = sample_cpu_load(0.3, every=0.1)
    cores = machine_facts()["logical cores"]
    assert len(load) % cores == 0 and len(load) >= cores
    assert load["busy_pct"].between(0, 100).all()


def test_machine_cpu_starts_with_a_baseline():
    meter = MachineCpu()
    assert meter.percent_of_one_core() is None
    second = meter.percent_of_one_core()
    assert second is not None and 0 <= second <= 100 * machine_facts()["logical cores"]
