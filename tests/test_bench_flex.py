"""The committed flex24_7y benchmark scenario is what issue 11 says it is, and its timer runs."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from benchmarks.bench_flex import SCENARIO_PATH, flex24_7y_seconds
from firmware_model import Flex
from firmware_model.scenario import parse_scenario_text, run_scenario
from firmware_model.units import US_PER_DAY, US_PER_HOUR, US_PER_MIN


def test_the_scenario_is_24_distinct_steps_a_daily_hot_hour_and_8_weekly_refills() -> None:
    scenario = parse_scenario_text(SCENARIO_PATH.read_text(encoding="utf-8"))
    assert scenario.config.thermal_time_constant_us == 40 * US_PER_MIN
    assert scenario.until_us is None  # to end of service ...
    assert scenario.horizon_us == 2_557 * US_PER_DAY  # ... within 7 years
    programs = [s for s in scenario.steps if s.action == "program"]
    assert len(programs) == 1
    basal = programs[0].params["basal"]
    assert isinstance(basal, Flex)
    doses = [step.dose_ug_per_day for step in basal.steps]
    assert len(doses) == len(set(doses)) == 24
    limits = scenario.config.drug("baclofen")
    assert limits is not None
    assert min(doses) >= 300
    assert max(doses) <= limits.max_dose_ug_per_day
    heat = [s for s in scenario.steps if s.action == "temperature"]
    assert {(s.params["temperature_mc"], s.params["duration_us"]) for s in heat} == {
        (40_000, US_PER_HOUR)
    }
    assert {b.at_us - a.at_us for a, b in itertools.pairwise(heat)} == {US_PER_DAY}
    refills = [s.at_us for s in scenario.steps if s.action == "refill"]
    assert refills[:2] == [0, 56 * US_PER_DAY + 10 * US_PER_HOUR]  # then every 8 weeks
    assert {b - a for a, b in itertools.pairwise(refills[1:])} == {56 * US_PER_DAY}


@pytest.mark.timeout(120)
def test_the_run_refills_before_low_and_ends_at_end_of_service() -> None:
    records = list(run_scenario(parse_scenario_text(SCENARIO_PATH.read_text(encoding="utf-8"))))
    kinds = Counter(record["kind"] for record in records)
    alarms = Counter(record["alarm"] for record in records if record["kind"] == "alarm")
    assert kinds["refused"] == 0
    assert "low_reservoir" not in alarms
    assert "empty_reservoir" not in alarms
    assert alarms["over_infusion"] > 2_000  # most evenings in the bath (docs/scenarios.md)
    summary = records[-1]
    assert summary["state"] == "end_of_service"
    assert 6 * 365 * 86_400 < summary["t_s"] < 7 * 365.25 * 86_400


@pytest.mark.timeout(120)
def test_the_timer_gives_wall_seconds_for_one_run() -> None:
    seconds = flex24_7y_seconds(runs=1)
    assert isinstance(seconds, float)
    assert 0 < seconds < 60
