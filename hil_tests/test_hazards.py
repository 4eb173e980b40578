"""The mission's hazards, end to end over the wire, created on demand by the test rig.

Each test starts from a new worked-example pump (docs/domain.md: 20 mL of baclofen 500 ug/mL
at 200 ug/day, 0.4 mL/day) with simulated time frozen, so that only ``rig.advance`` moves it
and every volume is exact; what the pump does is then read over the wire, through the
programmer library, as a clinic would read it, and checked against the rig's events and the
model of docs/domain.md. Time jumps and the environment cannot be undone over the wire: these
tests are destructive and run between the plugin's snapshot and restore.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import pytest

from hil_tests.expect import (
    NL_PER_ML,
    NL_PER_UL,
    S_PER_DAY,
    S_PER_HOUR,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_S,
    Device,
    alarm_names,
    await_notifications,
    close_to,
    detail,
    events,
    frozen,
    heat_factor,
    line_faults,
    log_mark,
    log_since,
    mass_ng,
    notifications_within,
    rate_nl_per_day,
    records,
    session,
    times_us,
    volume_nl,
    wait_until,
)
from hil_tests.link_log import LinkLog
from programmer import DeviceRefused, Programmer, ProgrammerError
from programmer.keys import load_keyring
from protocol import (
    AlarmCode,
    AlarmFlags,
    Bolus,
    BolusReply,
    Key,
    Outgoing,
    PumpState,
    Reason,
    Role,
    SessionChallenge,
    SessionOpened,
)
from rig_control import ControlClient

pytestmark = [pytest.mark.needs_control, pytest.mark.destructive, pytest.mark.emulator_only]

# docs/domain.md, worked example [M]: 20 mL at 500 ug/mL, 200 ug/day is 0.4 mL/day; the 2 mL
# low-reservoir alarm after (20 - 2) / 0.4 = 45 days, empty (0.5 mL) after 48.75 days.
WORKED_CAPACITY_NL = 20 * NL_PER_ML
WORKED_LOW_RESERVOIR_DAYS = 45
WORKED_EMPTY_US = 48 * US_PER_DAY + 18 * US_PER_HOUR  # 48.75 days
# docs/domain.md, baclofen concentrations [S]: 500, 1000 and 2000 ug/mL; twice as strong.
NEW_CONCENTRATION_UG_PER_ML = 1_000
# docs/domain.md, screening boluses [S]: 50 ug, the smallest; over 30 min, the programmer's
# default duration (README) [M].
BOLUS_UG = 50
BOLUS_S = 1_800
# docs/domain.md, battery [S]: the pump stops exactly 90 days after ERI.
ERI_TO_EOS_US = 90 * US_PER_DAY
# firmware_model/config.py [M] (the GPCA over-infusion alarm of docs/domain.md [S]): delivered
# over a 1 h window above the programmed dose by more than 10 %.
OVER_INFUSION_WINDOW_US = US_PER_HOUR
OVER_INFUSION_TOLERANCE = Fraction(1, 10)
# docs/protocol.md section 4: at most 100 key verifications in any 30 s of link time.
VERIFICATIONS_PER_WINDOW = 100
VERIFICATION_WINDOW_S = 30
# docs/protocol.md section 1: the project's noise model, each byte each way.
NOISE_RATE = 1 / 300
# docs/domain.md, Heat: fever 38-40 °C, a hot tub 40 °C, hotter tubs warned against [S:
# MiniMed implantable pump manual: above 40 °C for more than an hour]; an hour of each.
HEAT_C = (38, 40, 42)
HEAT_DURATION = "1h"
# docs/domain.md, MRI [S: Medtronic MRI guidelines]: the rotor stops for the whole scan; the
# recovery delay is 0 by default [M] (firmware_model/config.py). A 2 h scan, a 1 h occlusion [M].
SCAN_DURATION_US = 2 * US_PER_HOUR
OCCLUSION_DURATION_US = US_PER_HOUR
# A day past the worked example's day-45 alarm; a day of steady delivery that fills the 1 h
# over-infusion window with the programmed dose.
PAST_LOW_RESERVOIR = "46d"
STEADY = "1d"


@pytest.fixture
def fresh(rig: ControlClient) -> Iterator[ControlClient]:
    """A new worked-example pump, simulated time frozen: only ``advance`` moves it."""
    with frozen(rig):
        rig.reset("worked-example")
        yield rig


@pytest.fixture
def clinician(fresh: ControlClient, device: Device, link_log: LinkLog) -> Iterator[Programmer]:
    """A clinician session on the new pump, open through the whole test: it receives the
    alarm notifications the pump sends while the rig moves time."""
    with session(device, link_log) as programmer:
        yield programmer


def until_us(state: dict[str, Any], volume_left_nl: int) -> Fraction:
    """Microseconds until the reservoir is down to ``volume_left_nl`` at the present flow."""
    return Fraction((state["reservoir_nl"] - volume_left_nl) * US_PER_DAY, state["flow_nl_per_day"])


def us(duration_us: int) -> str:
    return f"{duration_us}us"


# -- the reservoir -----------------------------------------------------------------------


def test_the_low_reservoir_alarm_comes_at_day_45_as_a_notification(
    fresh: ControlClient, clinician: Programmer
) -> None:
    start = fresh.state()
    due = until_us(start, start["low_reservoir_nl"])
    assert start["reservoir_nl"] == WORKED_CAPACITY_NL
    assert due == WORKED_LOW_RESERVOIR_DAYS * US_PER_DAY
    result = fresh.advance(PAST_LOW_RESERVOIR)
    assert times_us(result, "alarm", alarm="low_reservoir") == [start["simulated_time_us"] + due]
    notes = await_notifications(clinician, [(AlarmCode.LOW_RESERVOIR, True)])
    raised = next(n for n in notes if n.alarm is AlarmCode.LOW_RESERVOIR)
    assert raised.at_s == start["clock_s"] + WORKED_LOW_RESERVOIR_DAYS * S_PER_DAY
    assert raised.active == AlarmFlags.LOW_RESERVOIR
    listed = clinician.alarms().alarms
    assert [(a.alarm, a.raised_s, a.silenced) for a in listed] == [
        (AlarmCode.LOW_RESERVOIR, raised.at_s, 0)
    ]
    status = clinician.status()
    # docs/protocol.md section 8: non-critical, delivery continues.
    assert status.state is PumpState.INFUSING
    assert status.alarms == AlarmFlags.LOW_RESERVOIR
    assert status.reservoir_ul == result["state"]["reservoir_nl"] // NL_PER_UL
    assert close_to(result["state"]["reservoir_nl"], 2 * NL_PER_ML - 400_000)  # a day later


@pytest.mark.timeout(120)
def test_a_year_of_refills_every_45_days_each_after_its_low_reservoir_alarm(
    fresh: ControlClient, clinician: Programmer
) -> None:
    limits = clinician.limits()
    capacity_nl = limits.reservoir_capacity_ul * NL_PER_UL
    start = fresh.state()
    concentration = start["concentration_ug_per_ml"]
    interval = until_us({**start, "reservoir_nl": capacity_nl}, start["low_reservoir_nl"])
    if capacity_nl == WORKED_CAPACITY_NL:
        assert interval == WORKED_LOW_RESERVOIR_DAYS * US_PER_DAY
    step_us = math.ceil(interval)
    t_us = start["simulated_time_us"]
    year_end_us = t_us + 365 * US_PER_DAY
    mark = log_mark(clinician)
    visits = 0
    while t_us + step_us <= year_end_us:
        result = fresh.advance(us(step_us))
        assert [e["detail"]["alarm"] for e in events(result, "alarm")] == ["low_reservoir"]
        assert times_us(result, "alarm", alarm="low_reservoir") == [t_us + step_us]
        await_notifications(clinician, [(AlarmCode.LOW_RESERVOIR, True)])
        assert clinician.status().alarms == AlarmFlags.LOW_RESERVOIR
        left_nl = fresh.state()["reservoir_nl"]
        refill = clinician.refill(capacity_nl, concentration)
        assert (refill.expected_nl, refill.discrepancy_nl) == (left_nl, 0)
        await_notifications(clinician, [(AlarmCode.LOW_RESERVOIR, False)])
        status = clinician.status()
        assert (status.alarms, status.reservoir_ul) == (AlarmFlags.NONE, capacity_nl // NL_PER_UL)
        t_us = result["state"]["simulated_time_us"]
        visits += 1
    rest = fresh.advance(us(year_end_us - t_us))
    assert events(rest, "alarm") == []
    if capacity_nl == WORKED_CAPACITY_NL:
        assert visits == 365 // WORKED_LOW_RESERVOIR_DAYS  # 8 refill visits in the year
    entries = log_since(clinician, mark)
    assert len(records(entries, "alarm", alarm="low_reservoir")) == visits
    assert len(records(entries, "refill", added_nl=capacity_nl)) == visits
    assert records(entries, "alarm", critical="true") == []


@pytest.mark.provokes("WRONG_STATE")
def test_an_empty_reservoir_stops_delivery_until_it_is_refilled(
    fresh: ControlClient, clinician: Programmer
) -> None:
    start = fresh.state()
    empty_nl = clinician.limits().empty_nl
    due = start["simulated_time_us"] + until_us(start, empty_nl)
    assert due - start["simulated_time_us"] == WORKED_EMPTY_US
    result = fresh.advance("50d")  # past the 48.75 days
    assert times_us(result, "alarm", alarm="empty_reservoir") == [due]
    assert times_us(result, "state", state="empty") == [due]
    assert result["state"]["pumped_nl"] == start["reservoir_nl"] - empty_nl  # then nothing
    await_notifications(clinician, [(AlarmCode.EMPTY_RESERVOIR, True)])
    status = clinician.status()
    assert (status.state, status.flow_nl_per_day) == (PumpState.EMPTY, 0)
    assert status.alarms == AlarmFlags.LOW_RESERVOIR | AlarmFlags.EMPTY_RESERVOIR
    with pytest.raises(DeviceRefused) as refused:
        clinician.bolus(BOLUS_UG, BOLUS_S)
    assert refused.value.reason is Reason.WRONG_STATE
    refill = clinician.refill(WORKED_CAPACITY_NL, start["concentration_ug_per_ml"])
    assert refill.state is PumpState.INFUSING  # the basal resumes by itself (basal_on)
    status = clinician.status()
    assert (status.flow_nl_per_day, status.alarms) == (start["rate_nl_per_day"], AlarmFlags.NONE)


@pytest.mark.provokes("NO_SUCH_ALARM")
def test_an_acknowledged_alarm_is_silenced_and_clears_only_with_its_cause(
    fresh: ControlClient, clinician: Programmer
) -> None:
    # docs/domain.md, Alarms [S]: alarms latch; acknowledging silences, the cause clears.
    with pytest.raises(DeviceRefused) as refused:
        clinician.acknowledge(AlarmCode.LOW_RESERVOIR)
    assert refused.value.reason is Reason.NO_SUCH_ALARM
    fresh.advance(PAST_LOW_RESERVOIR)
    mark = log_mark(clinician)
    reply = clinician.acknowledge(AlarmCode.LOW_RESERVOIR)
    assert [(a.alarm, a.silenced) for a in reply.alarms] == [(AlarmCode.LOW_RESERVOIR, 1)]
    fresh.advance("1d")  # the cause remains
    status = clinician.status()
    assert status.alarms == status.silenced == AlarmFlags.LOW_RESERVOIR
    clinician.refill(WORKED_CAPACITY_NL, status.concentration_ug_per_ml)
    assert clinician.status().alarms == AlarmFlags.NONE
    kinds = [(e.kind, detail(e).get("alarm")) for e in log_since(clinician, mark)]
    acknowledged = kinds.index(("alarm_acknowledged", "low_reservoir"))
    assert kinds.index(("alarm_cleared", "low_reservoir")) > acknowledged


# -- heat ----------------------------------------------------------------------------------


@pytest.mark.parametrize("celsius", HEAT_C)
def test_heat_over_delivers_in_status_and_in_the_volume_delivered(
    fresh: ControlClient, clinician: Programmer, celsius: int
) -> None:
    before = fresh.advance(STEADY)["state"]
    rate = before["rate_nl_per_day"]
    concentration = before["concentration_ug_per_ml"]
    fresh.call("temperature", celsius=celsius, duration=HEAT_DURATION)  # a hot tub, an hour
    factor = heat_factor(celsius)
    hot = clinician.status()
    assert hot.temperature_mc == celsius * 1_000
    assert hot.rate_nl_per_day == rate  # the programmed rate: the pump cannot know
    assert hot.flow_nl_per_day == rate * factor
    after = fresh.advance("2h")["state"]  # the hour hot, an hour back at 37 °C
    pumped = after["pumped_nl"] - before["pumped_nl"]
    expected = volume_nl(rate * factor, US_PER_HOUR) + volume_nl(rate, US_PER_HOUR)
    assert close_to(pumped, expected)
    extra = pumped - volume_nl(rate, 2 * US_PER_HOUR)
    assert close_to(extra, volume_nl(rate * (factor - 1), US_PER_HOUR))  # 40 °C: 4 uL
    infused = after["infused_ng"] - before["infused_ng"]
    assert close_to(infused, mass_ng(pumped, concentration))  # a full catheter: in is out
    status = clinician.status()
    assert (status.temperature_mc, status.flow_nl_per_day) == (37_000, rate)
    assert close_to(before["reservoir_nl"] // NL_PER_UL - status.reservoir_ul, expected / 1_000)


@pytest.mark.parametrize(("celsius", "alarm_after_s"), [(38, None), (40, 25 * 60), (42, 15 * 60)])
def test_heat_raises_the_over_infusion_alarm_above_its_tolerance(
    fresh: ControlClient, clinician: Programmer, celsius: int, alarm_after_s: int | None
) -> None:
    fresh.advance(STEADY)
    heated = fresh.call("temperature", celsius=celsius, duration=HEAT_DURATION)
    t0 = heated["simulated_time_us"]
    excess = heat_factor(celsius) - 1
    # Over the window the excess grows at (factor - 1) + tolerance of the programmed flow
    # per unit time from -tolerance x window: it crosses zero at W x tol / (factor - 1).
    if excess > OVER_INFUSION_TOLERANCE:
        expected_s = OVER_INFUSION_WINDOW_US * OVER_INFUSION_TOLERANCE / excess / US_PER_S
        assert expected_s == alarm_after_s
    result = fresh.advance("3h")  # the hot hour, then the window (1 h) empties of it
    raised = times_us(result, "alarm", alarm="over_infusion")
    cleared = times_us(result, "alarm_cleared", alarm="over_infusion")
    assert events(result, "state") == []  # critical, but it only warns: delivery continues
    if alarm_after_s is None:
        assert raised == cleared == []
        assert AlarmCode.OVER_INFUSION not in {n.alarm for n in notifications_within(clinician)}
        return
    assert len(raised) == 1
    assert abs(raised[0] - (t0 + alarm_after_s * US_PER_S)) <= 1  # the microsecond after
    assert len(cleared) == 1
    heat_end = t0 + US_PER_HOUR
    assert heat_end < cleared[0] <= heat_end + OVER_INFUSION_WINDOW_US
    notes = await_notifications(
        clinician, [(AlarmCode.OVER_INFUSION, True), (AlarmCode.OVER_INFUSION, False)]
    )
    assert [(n.alarm, n.raised) for n in notes] == [
        (AlarmCode.OVER_INFUSION, 1),
        (AlarmCode.OVER_INFUSION, 0),
    ]
    assert clinician.status().state is PumpState.INFUSING


# -- motor stalls: MRI, occlusion ----------------------------------------------------------


def test_an_mri_stalls_delivery_for_the_scan_then_it_resumes_by_itself(
    fresh: ControlClient, clinician: Programmer
) -> None:
    scan = fresh.call("mri", duration=us(SCAN_DURATION_US))
    t0 = scan["simulated_time_us"]
    assert (scan["state"], scan["flow_nl_per_day"]) == ("suspended", 0)
    assert alarm_names(scan) == {"motor_stall"}
    status = clinician.status()
    assert (status.state, status.alarms) == (PumpState.SUSPENDED, AlarmFlags.MOTOR_STALL)
    result = fresh.advance("3h")
    assert times_us(result, "mri_ended") == [t0 + SCAN_DURATION_US]
    assert times_us(result, "motor_recovered") == [t0 + SCAN_DURATION_US]
    # Nothing delivered during the scan, the basal for the hour after it.
    rate = scan["rate_nl_per_day"]
    assert close_to(result["state"]["pumped_nl"] - scan["pumped_nl"], volume_nl(rate, US_PER_HOUR))
    await_notifications(clinician, [(AlarmCode.MOTOR_STALL, True), (AlarmCode.MOTOR_STALL, False)])
    assert clinician.status().state is PumpState.INFUSING


def test_an_mri_begun_while_alarming_holds_the_pump_until_it_is_interrogated_after_the_scan(
    fresh: ControlClient, device: Device, link_log: LinkLog
) -> None:
    # docs/domain.md, MRI [S: TGA hazard alert]: a pump alarming when the scan started resumes
    # only once interrogated by a programmer; an interrogation during the scan does not count.
    fresh.advance(PAST_LOW_RESERVOIR)  # the low-reservoir alarm (day 45) is active
    scan = fresh.call("mri", duration=us(SCAN_DURATION_US))
    t0 = scan["simulated_time_us"]
    with session(device, link_log) as during:
        assert during.status().state is PumpState.SUSPENDED
        mark = log_mark(during)
    result = fresh.advance("6h")  # 4 h past the scan
    assert times_us(result, "mri_ended") == [t0 + SCAN_DURATION_US]
    assert events(result, "motor_recovered") == []
    held = result["state"]
    assert (held["state"], held["flow_nl_per_day"], held["pumped_nl"]) == (
        "suspended",
        0,
        scan["pumped_nl"],
    )
    with session(device, link_log) as after:  # the session's interrogation releases it
        status = after.status()
        assert status.state is PumpState.INFUSING
        assert status.flow_nl_per_day == scan["rate_nl_per_day"]
        assert status.alarms == AlarmFlags.LOW_RESERVOIR
        kinds = [entry.kind for entry in log_since(after, mark)]
        assert kinds.count("interrogation") == kinds.count("motor_recovered") == 1
        assert kinds.index("mri_ended") < kinds.index("interrogation")
        assert kinds.index("interrogation") < kinds.index("motor_recovered")
    resumed = fresh.advance("1h")["state"]
    assert close_to(
        resumed["pumped_nl"] - held["pumped_nl"], volume_nl(scan["rate_nl_per_day"], US_PER_HOUR)
    )


def test_an_occlusion_stalls_the_motor_with_a_critical_alarm_until_it_clears(
    fresh: ControlClient, clinician: Programmer
) -> None:
    occluded = fresh.call("occlusion", duration=us(OCCLUSION_DURATION_US))
    t0 = occluded["simulated_time_us"]
    status = clinician.status()
    assert (status.state, status.flow_nl_per_day) == (PumpState.SUSPENDED, 0)
    assert status.alarms == AlarmFlags.MOTOR_STALL
    await_notifications(clinician, [(AlarmCode.MOTOR_STALL, True)])
    result = fresh.advance("2h")
    cleared = t0 + OCCLUSION_DURATION_US
    assert times_us(result, "occlusion_ended") == [cleared]
    assert times_us(result, "motor_recovered") == [cleared]
    assert times_us(result, "alarm_cleared", alarm="motor_stall") == [cleared]
    await_notifications(clinician, [(AlarmCode.MOTOR_STALL, False)])
    rate = occluded["rate_nl_per_day"]
    assert close_to(
        result["state"]["pumped_nl"] - occluded["pumped_nl"], volume_nl(rate, US_PER_HOUR)
    )
    status = clinician.status()
    assert (status.state, status.flow_nl_per_day, status.alarms) == (
        PumpState.INFUSING,
        rate,
        AlarmFlags.NONE,
    )
    stalls = records(clinician.log_entries(), "motor_stall")
    assert stalls
    assert "occlusion" in detail(stalls[-1])["causes"]


# -- the battery ---------------------------------------------------------------------------


@pytest.mark.provokes("WRONG_STATE")
def test_battery_eri_then_end_of_service_exactly_90_days_later(
    fresh: ControlClient, clinician: Programmer
) -> None:
    # Just above ERI: a new battery lasts 2557 days at no flow, ERI when 90 are left
    # (firmware_model/config.py [M], docs/domain.md [S]); 3.6 % is 92 days.
    fresh.call("battery", fraction=0.036)
    first = fresh.advance(PAST_LOW_RESERVOIR)
    eri = times_us(first, "alarm", alarm="battery_eri")
    assert len(eri) == 1
    await_notifications(clinician, [(AlarmCode.BATTERY_ERI, True)])
    status = clinician.status()
    # Non-critical: the pump keeps working (docs/domain.md, Battery ERI [S]).
    assert status.state is PumpState.INFUSING
    assert status.flow_nl_per_day == first["state"]["rate_nl_per_day"]
    assert status.alarms & AlarmFlags.BATTERY_ERI
    clinician.refill(WORKED_CAPACITY_NL, status.concentration_ug_per_ml)  # the day-45 visit
    second = fresh.advance("50d")  # ERI came within 2 days: EOS by day 92
    assert times_us(second, "alarm", alarm="end_of_service") == [eri[0] + ERI_TO_EOS_US]
    assert times_us(second, "state", state="end_of_service") == [eri[0] + ERI_TO_EOS_US]
    await_notifications(clinician, [(AlarmCode.END_OF_SERVICE, True)])
    status = clinician.status()
    assert (status.state, status.flow_nl_per_day) == (PumpState.END_OF_SERVICE, 0)
    assert status.alarms & AlarmFlags.END_OF_SERVICE
    later = fresh.advance("1d")["state"]
    assert later["pumped_nl"] == second["state"]["pumped_nl"]  # for good
    with pytest.raises(DeviceRefused) as refused:
        clinician.set_clock(status.clock_s)  # docs/protocol.md section 6: all but EOS
    assert refused.value.reason is Reason.WRONG_STATE


# -- refills, patient boluses ------------------------------------------------------------


@pytest.mark.provokes("DOSE_REENTRY_REQUIRED")
def test_a_refill_with_a_new_concentration_delivers_the_catheters_old_drug_first(
    fresh: ControlClient, clinician: Programmer
) -> None:
    fresh.advance(f"{WORKED_LOW_RESERVOIR_DAYS}d")  # the refill visit
    old = clinician.status()
    # docs/domain.md [S: ISMP tenfold errors]: a new concentration needs the dose again.
    with pytest.raises(DeviceRefused) as refused:
        clinician.refill(WORKED_CAPACITY_NL, NEW_CONCENTRATION_UG_PER_ML)
    assert refused.value.reason is Reason.DOSE_REENTRY_REQUIRED
    assert clinician.status().concentration_ug_per_ml == old.concentration_ug_per_ml
    clinician.refill(
        WORKED_CAPACITY_NL, NEW_CONCENTRATION_UG_PER_ML, dose_ug_per_day=old.dose_ug_per_day
    )
    new_rate = rate_nl_per_day(old.dose_ug_per_day, NEW_CONCENTRATION_UG_PER_ML)
    status = clinician.status()
    assert (status.concentration_ug_per_ml, status.dose_ug_per_day) == (
        NEW_CONCENTRATION_UG_PER_ML,
        old.dose_ug_per_day,
    )
    assert status.rate_nl_per_day == new_rate  # 0.2 mL/day: half the volume for the same dose
    catheter_nl = clinician.limits().catheter_volume_nl  # docs/domain.md: 0.2 mL [M]
    before = fresh.state()
    day1 = fresh.advance("1d")["state"]
    day2 = fresh.advance("1d")["state"]
    pumped1 = day1["pumped_nl"] - before["pumped_nl"]
    assert close_to(pumped1, volume_nl(new_rate, US_PER_DAY))
    old_part = min(catheter_nl, pumped1)
    expected1 = mass_ng(old_part, old.concentration_ug_per_ml) + mass_ng(
        pumped1 - old_part, NEW_CONCENTRATION_UG_PER_ML
    )
    # The worked example: the first day's 0.2 mL is all old drug, 100 ug instead of 200.
    assert close_to(day1["infused_ng"] - before["infused_ng"], expected1, within=1_000)
    expected2 = mass_ng(day2["pumped_nl"] - day1["pumped_nl"], NEW_CONCENTRATION_UG_PER_ML)
    assert close_to(day2["infused_ng"] - day1["infused_ng"], expected2, within=1_000)
    assert close_to(expected2, old.dose_ug_per_day * 1_000, within=1_000)


@pytest.mark.provokes("LOCKOUT", "DAILY_LIMIT")
def test_patient_boluses_keep_to_their_lockout_and_daily_maximum(
    fresh: ControlClient, device: Device, link_log: LinkLog
) -> None:
    # docs/domain.md [S: Prometra patient controller]: a dose, a duration, a lockout and a
    # maximum per 24 h. 50 ug (the smallest screening bolus [S]) over 10 min, 1 h apart, 3 a
    # day [M]: with the basal, 350 ug/day, under the label's 1000 ug/day [S].
    with session(device, link_log) as clinician:
        clinician.set_patient_limits(BOLUS_UG, 600, S_PER_HOUR, 3)
    before = fresh.state()
    bolus_nl = BOLUS_UG * NL_PER_ML // before["concentration_ug_per_ml"]
    with session(device, link_log, Role.PATIENT) as patient:
        presses = []
        for press in range(3):
            reply = patient.patient_bolus()
            assert (reply.volume_nl, reply.duration_s) == (bolus_nl, 600)
            status = patient.status()
            assert status.patient_bolus_ends_s == status.clock_s + 600
            presses.append(fresh.state()["simulated_time_us"])
            if press == 0:
                with pytest.raises(DeviceRefused) as locked:
                    patient.patient_bolus()
                assert locked.value.reason is Reason.LOCKOUT
            done = fresh.advance("1h")
            assert times_us(done, "patient_bolus_completed") == [presses[-1] + 600 * US_PER_S]
        with pytest.raises(DeviceRefused) as daily:
            patient.patient_bolus()
        assert daily.value.reason is Reason.DAILY_LIMIT
        day = fresh.advance(us(presses[0] + US_PER_DAY - fresh.state()["simulated_time_us"]))
        pumped = day["state"]["pumped_nl"] - before["pumped_nl"]
        assert close_to(pumped, volume_nl(before["rate_nl_per_day"], US_PER_DAY) + 3 * bolus_nl)
        assert patient.patient_bolus().volume_nl == bolus_nl  # the first press left the window


# -- the line ------------------------------------------------------------------------------


def bolus_starts(programmer: Programmer, mark: int) -> list[str]:
    """The ``req`` of every clinician bolus the pump started since ``mark``: what ran."""
    started = records(log_since(programmer, mark), "bolus_started", bolus="clinician")
    return [detail(entry)["req"] for entry in started]


def name_of(outgoing: Outgoing) -> str:
    return f"{outgoing.session_id:08x}:{outgoing.counter}"  # docs/protocol.md section 10


def test_a_bolus_whose_reply_was_lost_and_is_sent_again_runs_once(
    fresh: ControlClient, clinician: Programmer
) -> None:
    before = fresh.state()
    mark = log_mark(clinician)
    outgoing = clinician.link.connection.prepare(Bolus(BOLUS_UG, BOLUS_S))
    with line_faults(fresh, to_programmer={"drop": 1.0}):  # every reply lost
        clinician.link.send_raw(outgoing.data)
        wait_until(lambda: fresh.state()["state"] == "bolus", 10.0, "the bolus to start")
    clinician.link.send_raw(outgoing.data)  # the programmer's retransmission, byte for byte
    reply = clinician.link.wait_for_reply(outgoing.seq)
    assert isinstance(reply, BolusReply)
    fresh.advance("1h")
    assert bolus_starts(clinician, mark) == [name_of(outgoing)]
    after = fresh.state()
    # docs/protocol.md, Delivery: the bolus replaces the basal for its duration.
    expected = reply.volume_nl + volume_nl(
        before["rate_nl_per_day"], US_PER_HOUR - BOLUS_S * US_PER_S
    )
    assert close_to(after["pumped_nl"] - before["pumped_nl"], expected)


@pytest.mark.timeout(120)
def test_boluses_through_a_noisy_line_each_run_exactly_once(
    fresh: ControlClient,
    device: Device,
    link_log: LinkLog,
    record_property: Callable[[str, object], None],
) -> None:
    boluses = 3
    before = fresh.state()
    sent: list[Outgoing] = []
    # A short reply timeout: lost frames are retransmitted quickly (the budget stays 10 s).
    with session(device, link_log, timeout_s=0.25, retries=20) as programmer:
        programmer.link.on_changing_request = sent.append
        mark = log_mark(programmer)
        noise = {"flip": NOISE_RATE, "drop": NOISE_RATE, "duplicate": NOISE_RATE}
        for _ in range(boluses):
            while True:
                with line_faults(fresh, both=noise):
                    try:
                        programmer.bolus(BOLUS_UG, BOLUS_S)
                        break
                    except DeviceRefused:
                        raise
                    except ProgrammerError:  # not done, or outcome unknown: ask the pump
                        pass
                if programmer.status().state is PumpState.BOLUS:
                    break  # it had run: sending it again would deliver it twice
            fresh.advance("1h")
        ran = bolus_starts(programmer, mark)
        # How hard the line was (the noise is seeded by the order of fault settings, so
        # reported, not asserted; the lost-reply test above retransmits for certain).
        record_property("retransmissions", programmer.link.retransmissions)
        record_property("reconnections", programmer.link.reconnections)
    assert len(ran) == boluses
    assert set(ran) <= {name_of(outgoing) for outgoing in sent}
    bolus_nl = BOLUS_UG * NL_PER_ML // before["concentration_ug_per_ml"]
    basal = volume_nl(before["rate_nl_per_day"], US_PER_HOUR - BOLUS_S * US_PER_S)
    pumped = fresh.state()["pumped_nl"] - before["pumped_nl"]
    assert close_to(pumped, boluses * (bolus_nl + basal), within=boluses)


@pytest.mark.provokes("AUTH_FAILED", "RATE_LIMITED")
def test_bad_proofs_meet_the_verification_budget_and_a_clinician_gets_in_after_it(
    rig: ControlClient, link: Programmer, device: Device
) -> None:
    assert link.identity is not None
    serial = link.identity.serial_number
    good = load_keyring(serial, device.key_file).keys[Role.CLINICIAN]
    guess = Key(secrets.token_bytes(32))
    connection = link.link.connection
    rig.link_advance(f"{VERIFICATION_WINDOW_S + 1}s")  # every earlier proof out of the window
    try:
        reasons: list[Reason] = []
        message = ""
        for _ in range(VERIFICATIONS_PER_WINDOW + 1):
            challenge = link.link.transact(
                connection.begin_session(Role.CLINICIAN, guess, serial, "hil-guesser")
            )
            assert isinstance(challenge, SessionChallenge)
            with pytest.raises(DeviceRefused) as refused:
                link.link.transact(connection.answer_challenge(challenge))
            reasons.append(refused.value.reason)
            message = refused.value.message
        assert reasons == [Reason.AUTH_FAILED] * VERIFICATIONS_PER_WINDOW + [Reason.RATE_LIMITED]
        wait_s = int(message.split(" ", 1)[0])  # docs/protocol.md section 4: seconds first
        assert 0 < wait_s <= VERIFICATION_WINDOW_S
        # No lockout, but no exception either: the right key waits for the budget too, and
        # its SESSION_OPEN is still answered (only SESSION_AUTH gets RATE_LIMITED).
        challenge = link.link.transact(
            connection.begin_session(Role.CLINICIAN, good, serial, "hil-clinician")
        )
        assert isinstance(challenge, SessionChallenge)
        with pytest.raises(DeviceRefused) as waiting:
            link.link.transact(connection.answer_challenge(challenge))
        assert waiting.value.reason is Reason.RATE_LIMITED
        rig.link_advance(f"{wait_s}s")  # the guesser stopped: the budget is whole again
        opened = link.link.transact(connection.answer_challenge(challenge))  # challenge kept
        assert isinstance(opened, SessionOpened)
        assert opened.role == Role.CLINICIAN
        assert link.status().state in set(PumpState)
    finally:
        rig.link_advance(f"{VERIFICATION_WINDOW_S + 1}s")  # the next test's budget whole
