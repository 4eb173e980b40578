"""The pump model: exact alarm instants, refusals that change nothing, conservation of drug."""

import contextlib
import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_model import Alarm, Pump, PumpConfig, PumpRefusal, Refusal, rate_for_dose
from firmware_model.units import US_PER_DAY, US_PER_S

ML = 1_000_000  # nL


def filled_pump(volume_nl: int = 20 * ML, concentration: int = 500) -> Pump:
    pump = Pump()
    pump.fill(volume_nl, concentration)
    return pump


def alarm_times(pump: Pump) -> dict[str, int]:
    return {e.detail["alarm"]: e.t_us for e in pump.log if e.kind == "alarm"}


def test_worked_example_low_reservoir_at_45_days_empty_at_48_75() -> None:
    # shared/domain.md worked example [M]: 20 mL at 500 ug/mL, 200 ug/day -> 0.4 mL/day;
    # low-reservoir alarm (2 mL) after 45 days; empty threshold (0.5 mL) at 48.75 days.
    pump = filled_pump()
    assert pump.set_dose(200) == 400_000
    assert pump.next_event_us() == 45 * US_PER_DAY
    pump.advance_to(60 * US_PER_DAY)
    assert alarm_times(pump) == {
        "low_reservoir": 45 * US_PER_DAY,
        "empty_reservoir": 48 * US_PER_DAY + 18 * 3600 * US_PER_S,
    }
    status = pump.status()
    assert status.state == "alarm"
    assert status.reservoir_nl == 500_000
    assert status.alarms == {Alarm.LOW_RESERVOIR, Alarm.EMPTY_RESERVOIR}
    assert status.infused_ng == 19_500 * 500  # 19.5 mL delivered at 500 ug/mL, in ng


def test_alarm_is_raised_at_its_instant_however_time_is_sliced() -> None:
    whole, sliced = filled_pump(), filled_pump()
    whole.set_dose(200)
    sliced.set_dose(200)
    whole.advance_to(50 * US_PER_DAY)
    for hour in range(50 * 24 + 1):
        sliced.advance_to(hour * 3600 * US_PER_S)
    assert alarm_times(whole) == alarm_times(sliced)
    assert whole.status() == sliced.status()


def test_alarm_is_not_raised_one_microsecond_early() -> None:
    pump = filled_pump()
    pump.set_dose(200)
    pump.advance_to(45 * US_PER_DAY - 1)
    assert Alarm.LOW_RESERVOIR not in pump.status().alarms
    pump.advance_to(45 * US_PER_DAY)
    assert Alarm.LOW_RESERVOIR in pump.status().alarms


@pytest.mark.parametrize(
    ("dose", "reason"),
    [(0, Refusal.OUT_OF_RANGE), (1001, Refusal.OUT_OF_RANGE), (10, Refusal.OUT_OF_RANGE)],
)
def test_refused_dose_changes_nothing(dose: int, reason: Refusal) -> None:
    pump = filled_pump()
    pump.set_dose(200)
    before, log_length = pump.status(), len(pump.log)
    with pytest.raises(PumpRefusal) as refusal:
        pump.set_dose(dose)
    assert refusal.value.reason is reason
    assert pump.status() == before
    assert len(pump.log) == log_length


def test_no_dose_without_drug() -> None:
    with pytest.raises(PumpRefusal) as refusal:
        Pump().set_dose(200)
    assert refusal.value.reason is Refusal.NO_DRUG


def test_stop_needs_confirmation_and_is_refused_when_stopped() -> None:
    pump = filled_pump()
    pump.set_dose(200)
    with pytest.raises(PumpRefusal) as unconfirmed:
        pump.stop(confirm=False)
    assert unconfirmed.value.reason is Refusal.CONFIRMATION_REQUIRED
    assert pump.state == "infusing"
    pump.stop(confirm=True)
    assert pump.state == "stopped"
    with pytest.raises(PumpRefusal) as again:
        pump.stop(confirm=True)
    assert again.value.reason is Refusal.WRONG_STATE


def test_nothing_is_pumped_while_stopped() -> None:
    pump = filled_pump()
    pump.set_dose(200)
    pump.advance_to(US_PER_DAY)
    pump.stop(confirm=True)
    before = pump.status()
    pump.advance_to(400 * US_PER_DAY)
    after = pump.status()
    assert (after.reservoir_nl, after.infused_ng) == (before.reservoir_nl, before.infused_ng)


def test_refill_after_empty_clears_alarms_and_waits_stopped() -> None:
    pump = filled_pump()
    pump.set_dose(200)
    pump.advance_to(50 * US_PER_DAY)
    pump.fill(20 * ML, 500)
    status = pump.status()
    assert status.state == "stopped"
    assert status.alarms == frozenset()


def test_new_concentration_while_infusing_is_refused() -> None:
    pump = filled_pump()
    pump.set_dose(200)
    with pytest.raises(PumpRefusal) as refusal:
        pump.fill(20 * ML, 1000)
    assert refusal.value.reason is Refusal.WRONG_STATE


def test_time_runs_forward_only() -> None:
    pump = filled_pump()
    pump.advance_to(10)
    with pytest.raises(ValueError, match="forward"):
        pump.advance_to(9)


def test_rate_rounds_to_nearest_nanolitre_per_day() -> None:
    assert rate_for_dose(200, 500) == 400_000
    assert rate_for_dose(100, 1500) == 66_667  # 66 666.67 nL/day
    assert rate_for_dose(1, 3) == 333_333


def test_config_rejects_impossible_thresholds() -> None:
    with pytest.raises(PumpRefusal):
        PumpConfig(low_reservoir_nl=100, empty_nl=200)
    with pytest.raises(PumpRefusal):
        PumpConfig(reservoir_capacity_nl=30 * ML)


programs = st.lists(
    st.tuples(st.integers(1, 30 * US_PER_DAY), st.integers(24, 1000)), min_size=1, max_size=8
)


@given(programs, st.sampled_from([500, 1000, 2000]))
def test_drug_is_conserved_and_reservoir_never_below_empty(
    program: list[tuple[int, int]], concentration: int
) -> None:
    pump = filled_pump(concentration=concentration)
    t_us = 0
    for duration_us, dose in program:
        with contextlib.suppress(PumpRefusal):  # refused once empty; must change nothing
            pump.set_dose(dose)
        t_us += duration_us
        pump.advance_to(t_us)
        status = pump.status()
        pumped_nl = 20 * ML - status.reservoir_nl
        # Mass balance: drug delivered is volume pumped times concentration, to the ng.
        tolerance_ng = concentration // 1000 + 1  # 1 nL of rounding in the reservoir reading
        assert abs(status.infused_ng - pumped_nl * concentration // 1000) <= tolerance_ng
        assert status.reservoir_nl >= pump.config.empty_nl - 1
        if status.reservoir_nl <= pump.config.empty_nl:
            assert status.state == "alarm"


def test_status_is_a_value() -> None:
    pump = filled_pump()
    status = pump.status()
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.state = "x"  # type: ignore[misc]
