"""Battery life, ERI and end of service; alarm latching; the event log ring."""

import pytest

from firmware_model import Alarm, Continuous, Pump, PumpConfig, PumpRefusal, Refusal
from firmware_model.units import NL_PER_ML, US_PER_DAY
from tests.model.helpers import DAY, HOUR, first, pump_with_drug

YEAR = 365.25 * US_PER_DAY


def eos_after_years(rate_ml_per_day: float) -> float:
    """Service life of a pump fed so it delivers ``rate_ml_per_day`` continuously."""
    pump = Pump()
    dose = round(rate_ml_per_day * 1000)  # at 1000 ug/mL, dose ug/day = rate uL/day
    pump.refill(20 * NL_PER_ML, 1000)
    pump.program(Continuous(dose), start=True)
    t = 0
    while pump.state != "end_of_service":
        t += 20 * DAY
        pump.advance_to(t)
        alive = pump.state != "end_of_service"
        if alive and pump.status().reservoir_nl < 4 * NL_PER_ML:
            pump.refill(20 * NL_PER_ML, 1000)
    return first(pump, "state", state="end_of_service") / YEAR


@pytest.mark.parametrize("rate_ml_per_day", [0.1, 0.4, 1.0])
def test_service_life_is_five_to_seven_years(rate_ml_per_day: float) -> None:
    # [S] Medtronic: 5-7 years depending on daily volume; at most 7 years.
    assert 5 <= eos_after_years(rate_ml_per_day) <= 7


def test_more_volume_shortens_battery_life() -> None:
    assert eos_after_years(1.0) < eos_after_years(0.2)


def test_end_of_service_exactly_90_days_after_eri() -> None:
    pump = pump_with_drug(config=PumpConfig(initial_battery_ppm=40_000))
    pump.advance_to(200 * DAY)
    eri = first(pump, "alarm", alarm="battery_eri")
    assert first(pump, "alarm", alarm="end_of_service") == eri + 90 * DAY  # [S] Medtronic
    assert pump.state == "end_of_service"
    before = pump.accounts().pumped_q
    pump.advance_to(400 * DAY)
    assert pump.accounts().pumped_q == before
    with pytest.raises(PumpRefusal) as refused:
        pump.program(Continuous(200))
    assert refused.value.reason is Refusal.WRONG_STATE


def test_eri_at_its_analytic_instant_with_no_flow() -> None:
    config = PumpConfig(initial_battery_ppm=100_000)  # 10 % of 2557 days left
    pump = Pump(config)
    pump.advance_to(300 * DAY)
    # Quiescent drain alone: 255.7 days of charge, ERI 90 days before it is spent.
    assert first(pump, "alarm", alarm="battery_eri") == round(255.7 * DAY) - 90 * DAY


def test_interrogation_costs_battery() -> None:
    quiet, chatty = Pump(), Pump()
    for _ in range(40):
        chatty.interrogate()
    assert chatty.battery_ppm() < quiet.battery_ppm()


def test_acknowledge_silences_but_clears_only_with_the_cause() -> None:
    pump = pump_with_drug()
    pump.advance_to(46 * DAY)
    pump.acknowledge(Alarm.LOW_RESERVOIR)
    status = pump.status()
    assert Alarm.LOW_RESERVOIR in status.alarms
    assert Alarm.LOW_RESERVOIR in status.silenced
    assert first(pump, "alarm_acknowledged", alarm="low_reservoir") == 46 * DAY
    pump.advance_to(47 * DAY)
    assert Alarm.LOW_RESERVOIR in pump.status().alarms
    pump.refill(20 * NL_PER_ML, 500)
    assert Alarm.LOW_RESERVOIR not in pump.status().alarms
    assert first(pump, "alarm_cleared", alarm="low_reservoir") == 47 * DAY


def test_acknowledging_an_inactive_alarm_is_refused() -> None:
    pump = pump_with_drug()
    with pytest.raises(PumpRefusal) as refused:
        pump.acknowledge(Alarm.EMPTY_RESERVOIR)
    assert refused.value.reason is Refusal.NO_SUCH_ALARM


def test_alarm_priorities() -> None:
    assert {a for a in Alarm if not a.critical} == {Alarm.LOW_RESERVOIR, Alarm.BATTERY_ERI}


def test_event_log_rings_count_their_losses() -> None:
    pump = pump_with_drug(config=PumpConfig(event_log_capacity=8, link_log_capacity=8))
    clinical = len(pump.log)
    for hour in range(1, 20):
        pump.advance_to(hour * HOUR)
        pump.interrogate()
    assert len(pump.log) == clinical + 8
    assert (pump.log.clinical_lost, pump.log.link_lost, pump.log.overflowed) == (0, 11, 11)
    assert [e.kind for e in pump.log][-1] == "interrogation"
