"""Reservoir, refill and the worked example of docs/domain.md."""

import pytest

from firmware_model import Alarm, Continuous, Prescription, Pump, PumpRefusal, Refusal
from tests.model.helpers import DAY, HOUR, ML, first, pump_with_drug


def test_worked_example_to_the_second() -> None:
    # docs/domain.md worked example [M]: 20 mL at 500 ug/mL, 200 ug/day -> 0.4 mL/day;
    # low-reservoir alarm (2 mL) after (20 - 2) / 0.4 = 45 days; empty (0.5 mL) at 48.75 days.
    pump = pump_with_drug()
    assert pump.status().rate_nl_per_day == 400_000
    pump.advance_to(60 * DAY)
    assert first(pump, "alarm", alarm="low_reservoir") == 45 * DAY
    assert first(pump, "alarm", alarm="empty_reservoir") == 48 * DAY + 18 * HOUR
    status = pump.status()
    assert status.state == "empty"
    assert status.reservoir_nl == 500_000
    assert status.alarms == {Alarm.LOW_RESERVOIR, Alarm.EMPTY_RESERVOIR}


def test_alarm_not_one_microsecond_early() -> None:
    pump = pump_with_drug()
    pump.advance_to(45 * DAY - 1)
    assert Alarm.LOW_RESERVOIR not in pump.status().alarms
    pump.advance_to(45 * DAY)
    assert Alarm.LOW_RESERVOIR in pump.status().alarms


def test_mass_balance_across_refills() -> None:
    pump = pump_with_drug()
    pump.advance_to(30 * DAY)
    pump.refill(18 * ML, 500, measured_nl=7_900_000)
    pump.advance_to(50 * DAY)
    a = pump.accounts()
    assert a.filled_q == a.pumped_q + a.remaining_q + a.withdrawn_q
    assert a.withdrawn_q // (a.filled_q // (38 * ML)) == 8 * ML  # 12 mL pumped in 30 days


def test_refill_logs_expected_versus_measured() -> None:
    pump = pump_with_drug()
    pump.advance_to(30 * DAY)
    pump.refill(20 * ML, 500, measured_nl=7_500_000)
    entry = [e for e in pump.log if e.kind == "refill"][-1]
    assert entry.detail["expected_nl"] == 8 * ML
    assert entry.detail["measured_nl"] == 7_500_000
    assert entry.detail["discrepancy_nl"] == -500_000


def test_new_concentration_needs_the_dose_reentered() -> None:
    pump = pump_with_drug()
    before = pump.status()
    with pytest.raises(PumpRefusal) as refused:
        pump.refill(20 * ML, 1000)
    assert refused.value.reason is Refusal.DOSE_REENTRY_REQUIRED
    assert pump.status() == before
    pump.refill(20 * ML, 1000, prescription=Prescription(Continuous(200), None, 2 * ML))
    status = pump.status()
    assert (status.concentration_ug_per_ml, status.rate_nl_per_day) == (1000, 200_000)


def test_refill_after_empty_resumes_the_basal() -> None:
    pump = pump_with_drug()
    pump.advance_to(50 * DAY)
    assert pump.state == "empty"
    pump.refill(20 * ML, 500)
    status = pump.status()
    assert status.state == "infusing"
    assert status.alarms == frozenset()


def test_refill_when_never_programmed_stays_stopped() -> None:
    pump = Pump()
    pump.refill(20 * ML, 500)
    assert pump.state == "stopped"
    assert pump.status().alarms == frozenset()


@pytest.mark.parametrize(
    ("volume_nl", "concentration", "drug", "reason"),
    [
        (0, 500, "baclofen", Refusal.OUT_OF_RANGE),
        (20 * ML + 1, 500, "baclofen", Refusal.OUT_OF_RANGE),
        (10 * ML, 5000, "baclofen", Refusal.OUT_OF_RANGE),  # tenfold typo of 500
        (10 * ML, 500, "morphine", Refusal.OUT_OF_RANGE),  # not in the drug library
    ],
)
def test_bad_refill_changes_nothing(
    volume_nl: int, concentration: int, drug: str, reason: Refusal
) -> None:
    pump = pump_with_drug()
    before, accounts = pump.status(), pump.accounts()
    with pytest.raises(PumpRefusal) as refused:
        pump.refill(volume_nl, concentration, drug=drug)
    assert refused.value.reason is reason
    assert (pump.status(), pump.accounts()) == (before, accounts)
    assert list(pump.log)[-1].kind == "refused"


def test_programmable_low_reservoir_alarm() -> None:
    pump = pump_with_drug()
    pump.set_low_reservoir_alarm(4 * ML)
    pump.advance_to(50 * DAY)
    assert first(pump, "alarm", alarm="low_reservoir") == 40 * DAY  # 16 mL at 0.4 mL/day


def test_no_delivery_without_drug() -> None:
    with pytest.raises(PumpRefusal) as refused:
        Pump().program(Continuous(200))
    assert refused.value.reason is Refusal.NO_DRUG
