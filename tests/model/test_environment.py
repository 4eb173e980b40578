"""Heat, MRI and occlusion: flow and alarms at their analytic instants."""

import json

import pytest

from firmware_model import Alarm, Continuous, Pump, PumpConfig
from firmware_model.diagram import document
from firmware_model.persistence import from_plain, to_plain
from firmware_model.units import QUANTA_PER_NL
from tests.model.helpers import DAY, HOUR, MINUTE, first, kinds, pump_with_drug


def test_hot_tub_increases_flow_exactly() -> None:
    # Heat model [M] (docs/domain.md): multiplier 1 + 0.08 (T - 37) above 37 C; 40 C gives 1.24.
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


def alarming_pump(config: PumpConfig | None = None) -> Pump:
    """Infusing since day 0 with the low-reservoir alarm active (since day 45)."""
    pump = pump_with_drug(config=config)
    pump.advance_to(46 * DAY)
    assert Alarm.LOW_RESERVOIR in pump.status().alarms
    return pump


def test_an_interrogation_during_the_scan_does_not_release_the_pump() -> None:
    # TGA hazard alert [S]: the interrogation that counts is the one after the scan.
    pump = alarming_pump()
    start = pump.t_us
    pump.mri(HOUR)
    pump.advance_to(start + 30 * MINUTE)
    pump.interrogate()
    pump.advance_to(start + 5 * HOUR)
    assert pump.state == "suspended"
    assert "motor_recovered" not in kinds(pump)
    pump.interrogate()
    assert pump.state == "infusing"
    assert first(pump, "motor_recovered") == start + 5 * HOUR


def test_an_interrogation_during_the_recovery_delay_counts_and_delivery_waits_for_it() -> None:
    pump = alarming_pump(PumpConfig(mri_recovery_delay_us=2 * HOUR))
    start = pump.t_us
    pump.mri(HOUR)
    pump.advance_to(start + 90 * MINUTE)  # scan over, rotor still held by the delay
    pump.interrogate()
    assert pump.state == "suspended"
    pump.advance_to(start + 3 * HOUR - 1)
    assert pump.state == "suspended"
    pump.advance_to(start + 3 * HOUR)
    assert pump.state == "infusing"
    assert first(pump, "motor_recovered") == start + 3 * HOUR


def test_an_interrogation_at_the_instant_the_scan_ends_counts() -> None:
    pump = alarming_pump(PumpConfig(mri_recovery_delay_us=HOUR))
    start = pump.t_us
    pump.mri(HOUR)
    pump.advance_to(start + HOUR - 1)
    pump.interrogate()  # a microsecond too early
    pump.advance_to(start + HOUR)
    pump.interrogate()
    pump.advance_to(start + 2 * HOUR)
    assert pump.state == "infusing"


def test_a_second_scan_moves_the_end_that_counts() -> None:
    pump = alarming_pump()
    start = pump.t_us
    pump.mri(HOUR)
    pump.advance_to(start + 30 * MINUTE)
    pump.mri(2 * HOUR)  # ends at 2 h 30 min
    pump.advance_to(start + 2 * HOUR)
    pump.interrogate()  # after the first scan, during the second
    pump.advance_to(start + 4 * HOUR)
    assert pump.state == "suspended"
    pump.interrogate()
    assert pump.state == "infusing"


def test_a_pump_not_alarming_resumes_without_interrogation() -> None:
    pump = pump_with_drug()
    pump.mri(HOUR)
    pump.advance_to(HOUR)
    assert pump.state == "infusing"


def test_the_hold_survives_saving_mid_scan() -> None:
    pump = alarming_pump()
    start = pump.t_us
    pump.mri(HOUR)
    pump.advance_to(start + 20 * MINUTE)
    restored = from_plain(json.loads(json.dumps(to_plain(pump))))
    restored.interrogate()  # still during the scan: does not count
    restored.advance_to(start + 2 * HOUR)
    assert restored.state == "suspended"
    restored.interrogate()
    assert restored.state == "infusing"


def test_the_diagram_shows_the_hold() -> None:
    text = document()
    assert "suspended --> infusing: motor_recovered [basal_on & !awaiting_interrogation]" in text
    assert "interrogate [internal] [scan_over]" in text
