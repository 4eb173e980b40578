"""Heat, MRI and occlusion: flow and alarms at their analytic instants."""

import pytest

from firmware_model import Alarm, Continuous, PumpConfig
from firmware_model.units import QUANTA_PER_NL
from tests.model.helpers import DAY, HOUR, MINUTE, first, kinds, pump_with_drug


def test_hot_tub_increases_flow_exactly() -> None:
    # Heat model [M] (domain.md): multiplier 1 + 0.08 (T - 37) above 37 C; 40 C gives 1.24.
    cold, hot = pump_with_drug(), pump_with_drug()
    for pump in (cold, hot):
        pump.advance_to(DAY)
    hot.expose_temperature(40_000, 30 * MINUTE)
    assert hot.status().flow_nl_per_day == 496_000
    for pump in (cold, hot):
        pump.advance_to(2 * DAY)
    extra_q = hot.accounts().pumped_q - cold.accounts().pumped_q
    # 30 minutes at +24 % of 400 000 nL/day: exactly 2000 nL extra.
    assert extra_q == 2_000 * QUANTA_PER_NL
    assert hot.status().temperature_mc == 37_000


def test_over_infusion_from_heat_alone_at_its_analytic_instants() -> None:
    # Over 1 h, delivered may exceed programmed by 10 % [M]. At +24 % the window excess is
    # 0.24 x - 0.1 W: positive just after x = 25 min; after a 30-minute exposure it falls
    # back to zero at 30 + 60 - 25 = 65 min.
    pump = pump_with_drug()
    t0 = 2 * HOUR
    pump.advance_to(t0)
    pump.expose_temperature(40_000, 30 * MINUTE)
    pump.advance_to(t0 + 3 * HOUR)
    assert first(pump, "alarm", alarm="over_infusion") == t0 + 25 * MINUTE + 1
    assert first(pump, "alarm_cleared", alarm="over_infusion") == t0 + 65 * MINUTE
    assert pump.state == "infusing"  # it warns; stopping baclofen is the greater danger


def test_short_or_mild_heat_does_not_alarm() -> None:
    pump = pump_with_drug()
    pump.advance_to(2 * HOUR)
    pump.expose_temperature(40_000, 20 * MINUTE)  # 0.24 x 20 min < 6 min: within tolerance
    pump.advance_to(4 * HOUR)
    pump.expose_temperature(38_000, 10 * HOUR)  # +8 % for hours: within the 10 % tolerance
    pump.advance_to(16 * HOUR)
    assert "alarm" not in kinds(pump)


def test_thermal_time_constant_softens_the_step() -> None:
    config = PumpConfig(thermal_time_constant_us=10 * MINUTE)
    step, lagged = pump_with_drug(), pump_with_drug(config=config)
    for pump in (step, lagged):
        pump.advance_to(HOUR)
        pump.expose_temperature(40_000, HOUR)
        pump.advance_to(HOUR + 5 * MINUTE)
    assert 37_000 < lagged.status().temperature_mc < 40_000
    for pump in (step, lagged):
        pump.advance_to(4 * HOUR)
    assert lagged.status().temperature_mc == 37_000
    assert 0 < lagged.accounts().pumped_q < step.accounts().pumped_q


def test_mri_suspends_delivery_and_logs_stall_and_recovery() -> None:
    pump = pump_with_drug()
    pump.advance_to(DAY)
    pump.mri(HOUR)
    assert pump.state == "suspended"
    assert Alarm.MOTOR_STALL in pump.status().alarms
    before = pump.accounts().pumped_q
    pump.advance_to(DAY + HOUR - 1)
    assert pump.accounts().pumped_q == before
    pump.advance_to(DAY + HOUR)
    assert pump.state == "infusing"
    assert first(pump, "motor_stall") == DAY
    assert first(pump, "motor_recovered") == DAY + HOUR
    assert first(pump, "alarm_cleared", alarm="motor_stall") == DAY + HOUR


def test_mri_recovery_delay() -> None:
    pump = pump_with_drug(config=PumpConfig(mri_recovery_delay_us=2 * HOUR))
    pump.mri(HOUR)
    pump.advance_to(3 * HOUR - 1)
    assert pump.state == "suspended"
    pump.advance_to(3 * HOUR)
    assert pump.state == "infusing"


def test_mri_while_alarming_resumes_only_after_interrogation() -> None:
    # TGA hazard alert [S]: alarming at the scan's start, the pump waits to be interrogated.
    pump = pump_with_drug()
    pump.advance_to(46 * DAY)  # low-reservoir alarm active since day 45
    pump.mri(HOUR)
    pump.advance_to(47 * DAY)
    assert pump.state == "suspended"
    pump.interrogate()
    assert pump.state == "infusing"


def test_occlusion_is_detected_as_motor_stall() -> None:
    pump = pump_with_drug()
    pump.occlude(2 * HOUR)
    assert pump.state == "suspended"
    assert Alarm.MOTOR_STALL in pump.status().alarms
    pump.advance_to(2 * HOUR)
    assert pump.state == "infusing"
    assert "occlusion_ended" in kinds(pump)


def test_bolus_interrupted_by_stall_is_cancelled() -> None:
    pump = pump_with_drug()
    pump.clinician_bolus(50, HOUR)
    pump.advance_to(10 * MINUTE)
    pump.occlude(10 * MINUTE)
    assert "bolus_cancelled" in kinds(pump)
    pump.advance_to(20 * MINUTE)
    assert pump.state == "infusing"


def test_programming_during_an_mri_stalls_at_once() -> None:
    pump = pump_with_drug(dose=None)
    pump.mri(HOUR)
    assert pump.state == "stopped"
    pump.program(Continuous(200), start=True)
    assert pump.state == "suspended"


@pytest.mark.parametrize("celsius_mc", [10_000, 60_000])
def test_implausible_temperature_is_refused(celsius_mc: int) -> None:
    from firmware_model import PumpRefusal

    pump = pump_with_drug()
    with pytest.raises(PumpRefusal):
        pump.expose_temperature(celsius_mc, HOUR)
