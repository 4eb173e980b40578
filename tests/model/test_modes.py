"""Stopped, continuous, flex, clinician, priming and patient boluses."""

import pytest

from firmware_model import (
    Continuous,
    Flex,
    FlexStep,
    PatientLimits,
    Pump,
    PumpConfig,
    PumpRefusal,
    Refusal,
)
from firmware_model.units import QUANTA_PER_NL
from tests.model.helpers import DAY, HOUR, MINUTE, ML, first, kinds, pump_with_drug


def pumped_nl(pump: Pump) -> int:
    return pump.accounts().pumped_q // QUANTA_PER_NL


def test_stop_needs_confirmation_and_nothing_is_pumped_while_stopped() -> None:
    pump = pump_with_drug()
    with pytest.raises(PumpRefusal) as refused:
        pump.stop(confirm=False)
    assert refused.value.reason is Refusal.CONFIRMATION_REQUIRED
    assert pump.state == "infusing"
    pump.advance_to(DAY)
    pump.stop(confirm=True)
    before = pump.accounts()
    pump.advance_to(300 * DAY)
    assert pump.accounts().pumped_q == before.pumped_q
    with pytest.raises(PumpRefusal) as again:
        pump.stop(confirm=True)
    assert again.value.reason is Refusal.WRONG_STATE


def test_flex_schedule_delivers_each_step_at_its_rate() -> None:
    pump = pump_with_drug(dose=None)
    # 100 ug/day from 00:00, 300 ug/day from 08:00, 200 ug/day from 20:00.
    pump.program(
        Flex((FlexStep(0, 100), FlexStep(8 * 3600, 300), FlexStep(20 * 3600, 200))), start=True
    )
    pump.advance_to(DAY)
    # At 500 ug/mL: 8 h of 200 uL/day, 12 h of 600 uL/day, 4 h of 400 uL/day = 433.333 uL.
    assert pumped_nl(pump) == (8 * 200_000 + 12 * 600_000 + 4 * 400_000) // 24
    pump.advance_to(DAY + 9 * HOUR)
    status = pump.status()
    assert (status.dose_ug_per_day, status.rate_nl_per_day) == (300, 600_000)


def test_a_new_flex_schedule_replaces_the_rates_the_pump_remembered() -> None:
    """The pump remembers a schedule's rates by second of the day: a new schedule with the
    same step times, and a new concentration, must not be served the old rates."""
    pump = pump_with_drug(dose=None)
    pump.program(Flex((FlexStep(0, 200), FlexStep(8 * 3600, 300))), start=True)
    pump.advance_to(2 * DAY + 9 * HOUR)  # every step's rate looked up, twice
    assert pump.status().rate_nl_per_day == 600_000  # 300 ug/day at 500 ug/mL
    pump.program(Flex((FlexStep(0, 250), FlexStep(8 * 3600, 350))))
    pump.advance_to(3 * DAY + 9 * HOUR)
    before = pumped_nl(pump)
    assert pump.status().rate_nl_per_day == 700_000
    pump.advance_to(4 * DAY + 9 * HOUR)
    # One day of the new schedule: 8 h at 500 uL/day, 16 h at 700 uL/day.
    assert abs(pumped_nl(pump) - before - (8 * 500_000 + 16 * 700_000) // 24) <= 1
    pump.refill(20 * ML, 1_000, prescription=pump.prescription())
    pump.advance_to(5 * DAY + 9 * HOUR)
    assert pump.status().rate_nl_per_day == 350_000  # the same dose at twice the strength


def test_flex_schedule_that_starts_after_midnight_wraps() -> None:
    pump = pump_with_drug(dose=None)
    pump.program(Flex((FlexStep(6 * 3600, 300), FlexStep(22 * 3600, 150))), start=True)
    assert pump.status().dose_ug_per_day == 150  # 00:00 is still in the 22:00 step


def test_clinician_bolus_replaces_basal_then_resumes() -> None:
    pump = pump_with_drug()
    pump.advance_to(DAY)
    start = pumped_nl(pump)
    pump.clinician_bolus(50, 30 * MINUTE)  # 50 ug at 500 ug/mL = 100 uL over 30 min
    assert pump.state == "bolus"
    pump.advance_to(DAY + 30 * MINUTE)
    assert pump.state == "infusing"
    assert abs(pumped_nl(pump) - start - 100_000) <= 1
    assert kinds(pump)[-2:] == ["bolus_completed", "state"]


def test_clinician_bolus_from_stopped_returns_to_stopped() -> None:
    pump = pump_with_drug(dose=None)
    pump.clinician_bolus(50, HOUR)
    pump.advance_to(2 * HOUR)
    assert pump.state == "stopped"


@pytest.mark.parametrize(
    ("dose", "duration", "reason"),
    [
        (201, HOUR, Refusal.DRUG_LIMIT),
        (50, 10, Refusal.OUT_OF_RANGE),
        (0, HOUR, Refusal.OUT_OF_RANGE),
    ],
)
def test_bad_bolus_is_refused(dose: int, duration: int, reason: Refusal) -> None:
    pump = pump_with_drug()
    before = pump.status()
    with pytest.raises(PumpRefusal) as refused:
        pump.clinician_bolus(dose, duration)
    assert refused.value.reason is reason
    assert pump.status() == before


def test_priming_fills_the_catheter_before_drug_reaches_the_patient() -> None:
    unprimed, primed = pump_with_drug(dose=None), pump_with_drug(dose=None)
    primed.prime()  # 0.2 mL at 24 mL/day: 12 minutes (docs/domain.md catheter volume [M])
    assert primed.state == "priming"
    primed.advance_to(12 * MINUTE)
    assert primed.state == "stopped"
    assert primed.status().infused_ng == 0  # only the catheter's old contents went out
    for pump in (unprimed, primed):
        pump.program(Continuous(200), start=True)
    unprimed.advance_to(DAY)
    primed.advance_to(12 * MINUTE + DAY)
    # 0.4 mL a day; unprimed, the first 0.2 mL only filled the catheter.
    assert primed.status().infused_ng == 200 * 1000
    assert unprimed.status().infused_ng == 100 * 1000


def limits(**override: int) -> PatientLimits:
    values = {"dose_ug": 20, "duration_us": 10 * MINUTE, "lockout_us": 2 * HOUR, "max_per_day": 4}
    values.update(override)
    return PatientLimits(**values)


def test_patient_bolus_adds_to_basal_within_limits() -> None:
    pump = pump_with_drug()
    pump.set_patient_limits(limits())
    pump.advance_to(HOUR)
    start = pumped_nl(pump)
    pump.patient_bolus()
    assert pump.state == "infusing"
    pump.advance_to(HOUR + 10 * MINUTE)
    basal_nl = 400_000 * 10 // (24 * 60)
    assert abs(pumped_nl(pump) - start - basal_nl - 40_000) <= 2  # 20 ug = 40 uL on top


def test_patient_bolus_lockout_and_daily_limit() -> None:
    pump = pump_with_drug()
    pump.set_patient_limits(limits())
    pump.patient_bolus()
    pump.advance_to(HOUR)
    with pytest.raises(PumpRefusal) as locked:
        pump.patient_bolus()
    assert locked.value.reason is Refusal.LOCKOUT
    # The 2 h lockout began at 0: an hour on, an hour is left, said as a person says it.
    assert locked.value.message == "locked out: the next patient bolus is possible in 1 h"
    pump.advance_to(HOUR + 59 * MINUTE + 59 * 1_000_000 + 1)  # 1 s less 1 us: said as 1 s
    with pytest.raises(PumpRefusal, match=r"possible in 1 s$"):
        pump.patient_bolus()
    for hour in (2, 4, 6):
        pump.advance_to(hour * HOUR)
        pump.patient_bolus()
    pump.advance_to(8 * HOUR)
    with pytest.raises(PumpRefusal) as limited:
        pump.patient_bolus()
    assert limited.value.reason is Refusal.DAILY_LIMIT
    pump.advance_to(DAY + 1)
    pump.patient_bolus()  # the first one has left the 24 h window


def test_patient_bolus_refused_without_limits_or_when_stopped() -> None:
    pump = pump_with_drug()
    with pytest.raises(PumpRefusal) as unprogrammed:
        pump.patient_bolus()
    assert unprogrammed.value.reason is Refusal.NOT_PERMITTED
    pump.set_patient_limits(limits())
    pump.stop(confirm=True)
    with pytest.raises(PumpRefusal) as stopped:
        pump.patient_bolus()
    assert stopped.value.reason is Refusal.WRONG_STATE


def test_basal_plus_patient_boluses_within_the_daily_hard_limit() -> None:
    pump = pump_with_drug(dose=900)
    with pytest.raises(PumpRefusal) as refused:
        pump.set_patient_limits(limits(dose_ug=50, max_per_day=4))
    assert refused.value.reason is Refusal.DRUG_LIMIT


def test_dose_increase_per_transaction_is_limited() -> None:
    pump = pump_with_drug()
    pump.program(Continuous(280))  # +40 %: the label's largest titration step [S]
    with pytest.raises(PumpRefusal) as refused:
        pump.program(Continuous(400))
    assert refused.value.reason is Refusal.DOSE_CHANGE_LIMIT
    pump.program(Continuous(100))  # decreases are never limited
    unlimited = pump_with_drug(config=PumpConfig(max_dose_increase_pct=None))
    unlimited.program(Continuous(900))


def test_drug_library_limit_can_be_configured() -> None:
    pump = pump_with_drug(dose=None, config=PumpConfig(max_dose_ug_per_day=500))
    with pytest.raises(PumpRefusal) as refused:
        pump.program(Continuous(600))
    assert refused.value.reason is Refusal.DRUG_LIMIT


def test_first_programming_of_the_day_is_logged() -> None:
    pump = pump_with_drug()
    assert first(pump, "programmed") == 0


def test_flex_follows_the_pump_clock_when_it_is_set() -> None:
    pump = pump_with_drug(dose=None)
    pump.program(Flex((FlexStep(0, 100), FlexStep(8 * 3600, 300))), start=True)
    assert pump.status().dose_ug_per_day == 100  # model time 0 is midnight
    midnight_s = 1_795_046_400  # 2026-11-19 00:00:00 UTC
    pump.set_clock((midnight_s + 7 * 3600 + 59 * 60 + 59) * 1_000_000)  # 07:59:59 UTC
    assert pump.status().dose_ug_per_day == 100
    pump.advance_to(pump.t_us + 1_000_000)
    assert pump.status().dose_ug_per_day == 300
    assert first(pump, "clock_set") == 0


def test_end_of_service_cancels_a_running_bolus() -> None:
    config = PumpConfig(reservoir_capacity_nl=40 * ML, initial_battery_ppm=30_000)  # past ERI
    pump = pump_with_drug(40 * ML, config=config)  # 40 mL at 0.4 mL/day outlasts 90 days
    assert first(pump, "alarm", alarm="battery_eri") == 0
    eos_us = 90 * DAY  # [S] Medtronic: end of service 90 days after ERI
    pump.advance_to(eos_us - HOUR)
    pump.clinician_bolus(50, 2 * HOUR)
    pump.advance_to(eos_us)
    assert pump.state == "end_of_service"
    assert "bolus_cancelled" in kinds(pump)


def test_a_patient_lockout_the_model_could_not_enforce_is_refused() -> None:
    # Issue 8, point 11: a 36 h lockout was accepted, then a bolus 25 h later ran. The pump
    # keeps 24 h of patient-bolus history, so a longer lockout is refused, with its range.
    pump = pump_with_drug()
    with pytest.raises(PumpRefusal) as refused:
        pump.set_patient_limits(PatientLimits(25, 15 * MINUTE, 36 * HOUR, 3))
    assert refused.value.reason is Refusal.OUT_OF_RANGE
    assert "outside 900..86400 s" in refused.value.message
    assert pump.patient_limits is None
