"""The phrases chapter 01 glues into its prose: each must say what the numbers say, whichever way the run went."""

from __future__ import annotations

import pandas as pd
import pytest

from streamlab.experiments.application import verdicts


def test_rate_verdict_claims_the_configured_rate_only_when_every_machine_reached_it():
    ok = pd.Series([10.0, 9.99, 10.01])
    assert verdicts.rate_verdict(ok, 10.0) == (
        "within 2% of the 10 Hz configured for the run, which meets the 10 Hz the assignment asks for")
    slow = pd.Series([10.0, 8.2])
    text = verdicts.rate_verdict(slow, 10.0)
    assert text.startswith("short of the 10 Hz") and "8.20 Hz" in text and "assignment" in text
    assert "below the 10 Hz the assignment" in verdicts.rate_verdict(pd.Series([5.0]), 5.0)


def test_hz_range_is_one_number_when_all_machines_agree():
    assert verdicts.hz_range(pd.Series([10.001, 9.999])) == "10.00"
    assert verdicts.hz_range(pd.Series([9.5, 10.0])) == "between 9.50 and 10.00"


def test_rate_holds_only_when_the_steady_rate_reaches_the_configured_one():
    assert verdicts.rate_holds(9.99, 10.0) == "late ticks are caught up, so the rate holds"
    assert "fell to 7.00 Hz" in verdicts.rate_holds(7.0, 10.0)


@pytest.mark.parametrize("inversions, expected", [
    (0, "saw each machine's readings in the order they were sent"),
    (1, "saw 1 reading of a machine before an earlier one"),
    (12, "saw 12 readings of a machine before an earlier one"),
])
def test_order_verdict(inversions, expected):
    assert verdicts.order_verdict(inversions) == expected


def test_temp_files_verdict():
    assert verdicts.temp_files_verdict(0) == "No temporary file was left behind"
    assert verdicts.temp_files_verdict(2) == "2 temporary files of an interrupted write were left behind"


def test_footprint_is_light_only_below_one_core_and_a_gibibyte():
    assert verdicts.footprint_verdict(60.0, 400.0, 2) == "So the application itself is light"
    heavy = verdicts.footprint_verdict(150.0, 400.0, 2)
    assert "not light" in heavy and "150 %" in heavy
    assert "not light" in verdicts.footprint_verdict(50.0, 2048.0, 2)


def test_dead_letters_and_carrying_on():
    assert verdicts.dead_letter_verdict(20, 20, 20) == "all 20 dead letters are there (the processor counted 20)"
    assert verdicts.dead_letter_verdict(18, 20, 19).startswith("18 of the 20 injected")
    assert verdicts.carried_on(0).startswith("The processor carried on")
    assert "3 health records are missing" in verdicts.carried_on(3)


def test_lag_drained_reads_the_last_sample_of_each_group():
    lag = pd.DataFrame({"t_s": [1, 2, 1, 2], "group": ["a", "a", "b", "b"], "lag": [50, 0, 10, 0]})
    assert verdicts.lag_drained(lag) == "every lag drained to zero"
    lag.loc[3, "lag"] = 7
    assert verdicts.lag_drained(lag) == "not every lag had drained at the last sample (b: 7)"
    assert verdicts.lag_drained(lag.iloc[0:0]) == "no lag was sampled"


def test_false_alarm_summary_and_cause():
    none = pd.DataFrame(columns=["t_s", "reason"])
    assert verdicts.false_alarm_summary(none) == "There were no false alarms in this run."
    start_up = pd.DataFrame({"t_s": [1.2, 2.5], "reason": ["temp_slope=0.9 > 0.5", "temp_slope=0.7 > 0.5"]})
    assert verdicts.false_alarm_summary(start_up) == (
        "The 2 false alarms were raised between 1.2 s and 2.5 s, naming temp_slope.")
    assert verdicts.false_alarm_cause(start_up, warmup_s=5.0).startswith("All of them came at the machines' start")
    late = pd.DataFrame({"t_s": [12.0], "reason": ["vib_rms_total=9 > 4"]})
    assert verdicts.false_alarm_cause(late, warmup_s=5.0).startswith("Not all of them")


def test_broker_note_without_local_brokers():
    empty = pd.DataFrame(columns=["mean CPU (% of a core)", "peak memory (MiB)"])
    assert "not local processes" in verdicts.broker_note(empty)
    brokers = pd.DataFrame({"mean CPU (% of a core)": [10.0, 20.0], "peak memory (MiB)": [400.0, 500.0]})
    assert verdicts.broker_note(brokers).startswith("The 2 brokers together used 30 % of a core and 900 MiB")


def test_early_latency_without_early_readings():
    assert verdicts.early_latency(pd.Series([10.0, 30.0, 20.0]), 5.0) == (
        "median 20 ms end to end for readings sent in the first 5 s")
    assert verdicts.early_latency(pd.Series([], dtype=float), 5.0).startswith("no reading was sent in the first 5 s")


def test_exactly_once_phrase_claims_it_only_when_the_run_showed_it():
    assert verdicts.exactly_once_phrase(True) == "every reading reached the disk exactly once"
    assert verdicts.exactly_once_phrase(False).startswith("not every reading")
