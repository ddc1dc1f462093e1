"""The facts chapter 01 glues into its prose: each must say what the numbers say, whichever way the run went."""

from __future__ import annotations

import pandas as pd

from streamlab.experiments.application import verdicts


def test_rate_met_only_when_every_machine_reached_the_target():
    assert verdicts.rate_met(pd.Series([10.0, 9.99, 10.01]), 10.0)
    assert not verdicts.rate_met(pd.Series([10.0, 8.2]), 10.0)
    assert verdicts.rate_met(5.0, 5.0) and not verdicts.rate_met(5.0, 10.0)
    assert verdicts.rate_met(9.79, 10.0) is False and verdicts.rate_met(9.85, 10.0) is True


def test_hz_range_is_one_number_when_all_machines_agree():
    assert verdicts.hz_range(pd.Series([10.001, 9.999])) == "10.00"
    assert verdicts.hz_range(pd.Series([9.5, 10.0])) == "9.50–10.00"


def test_light_only_below_one_core_and_a_gibibyte():
    assert verdicts.is_light(60.0, 400.0)
    assert not verdicts.is_light(150.0, 400.0)
    assert not verdicts.is_light(50.0, 2048.0)


def test_undrained_groups_read_the_last_sample_of_each_group():
    lag = pd.DataFrame({"t_s": [1, 2, 1, 2], "group": ["a", "a", "b", "b"], "lag": [50, 0, 10, 0]})
    assert verdicts.undrained_groups(lag) == []
    lag.loc[3, "lag"] = 7
    assert verdicts.undrained_groups(lag) == ["b"]
    lag.loc[1, "lag"] = float("nan")
    assert verdicts.undrained_groups(lag) == ["a", "b"]
    assert verdicts.undrained_groups(lag.iloc[0:0]) is None


def test_false_alarms_at_start_up():
    assert verdicts.false_alarms_at_start_up(pd.DataFrame(columns=["t_s", "reason"]), 5.0) is None
    start_up = pd.DataFrame({"t_s": [1.2, 2.5], "reason": ["temp_slope=0.9 > 0.5", "temp_slope=0.7 > 0.5"]})
    assert verdicts.alarm_indicators(start_up) == ["temp_slope"]
    assert verdicts.false_alarms_at_start_up(start_up, warmup_s=5.0) is True
    assert verdicts.false_alarms_at_start_up(start_up, warmup_s=2.0) is False
    late = pd.DataFrame({"t_s": [1.0], "reason": ["vib_rms_total=9 > 4"]})
    assert verdicts.false_alarms_at_start_up(late, warmup_s=5.0) is False


def test_early_median_without_early_readings():
    assert verdicts.early_median_ms(pd.Series([10.0, 30.0, 20.0])) == 20.0
    assert verdicts.early_median_ms(pd.Series([], dtype=float)) is None
