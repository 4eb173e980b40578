"""Refill, prime, boluses and the clock over the wire: what no request can take back.

Drug delivered, a reservoir refilled and the pump's clock cannot be undone over the wire, so
every test here is ``destructive``: it runs between the plugin's snapshot and restore of an
emulator (or with --allow-destructive on one the run may spoil), never on hardware. Those that
follow delivery in simulated time freeze it and move it with ``rig.advance`` (needs_control),
so that volumes are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from hil_tests.expect import (
    NL_PER_ML,
    NL_PER_UL,
    S_PER_DAY,
    S_PER_HOUR,
    US_PER_HOUR,
    US_PER_S,
    Device,
    close_to,
    detail,
    frozen,
    log_mark,
    log_since,
    records,
    session,
    times_us,
    volume_nl,
)
from hil_tests.link_log import LinkLog
from programmer import DeviceRefused, Programmer
from protocol import NO_DIGEST, Mode, PumpState, Reason, Role, WireStep, as_stage_request
from rig_control import ControlClient

pytestmark = pytest.mark.destructive

# docs/domain.md, baclofen concentrations [S]: 500, 1000 and 2000 ug/mL.
CONCENTRATIONS_UG_PER_ML = (500, 1_000, 2_000)
# docs/domain.md, screening boluses [S]: 50 ug; over 30 min (the programmer's default) [M].
BOLUS_UG = 50
BOLUS_S = 1_800
# docs/domain.md, refill discrepancy: more than 1 mL is flagged (pocket fill [S], 1 mL [M]);
# a syringe reading 0.3 mL off is within it.
SMALL_DIFFERENCE_NL = 300_000
POCKET_FILL_NL = 1_500_000
# docs/protocol.md section 9: the settable clock, 2000-01-01 to 2099-12-31 UTC [M].
MIN_CLOCK_S = 946_684_800
MAX_CLOCK_S = 4_102_444_799
# A residual reading taken a moment before the refill: the pump drains on meanwhile (at most
# 24 mL/day, 0.3 uL/s) and rounds down to the microlitre.
READING_SLACK_NL = 5 * NL_PER_UL


@pytest.fixture
def still(rig: ControlClient) -> Iterator[ControlClient]:
    """Simulated time frozen: only ``rig.advance`` moves it, so volumes are exact."""
    with frozen(rig):
        yield rig


def capacity_nl(pump: Programmer) -> int:
    return pump.limits().reservoir_capacity_ul * NL_PER_UL


def another_concentration(concentration: int) -> int:
    return next(c for c in CONCENTRATIONS_UG_PER_ML if c != concentration)


def stopped(pump: Programmer) -> None:
    if pump.status().state is not PumpState.STOPPED:
        pump.stop(confirm_withdrawal_risk=True)


# -- refill --------------------------------------------------------------------------------


def test_a_refill_with_the_same_drug_fills_the_reservoir(pump: Programmer) -> None:
    before = pump.status()
    full_nl = capacity_nl(pump)
    mark = log_mark(pump)
    reply = pump.refill(full_nl, before.concentration_ug_per_ml)
    # Not measured: the pump takes its own figure for what was withdrawn.
    assert reply.measured_nl == reply.expected_nl
    assert reply.discrepancy_nl == 0
    assert close_to(reply.expected_nl, before.reservoir_ul * NL_PER_UL, within=READING_SLACK_NL)
    after = pump.status()
    assert full_nl // NL_PER_UL - 1 <= after.reservoir_ul <= full_nl // NL_PER_UL
    assert (after.concentration_ug_per_ml, after.rate_nl_per_day, after.state) == (
        before.concentration_ug_per_ml,
        before.rate_nl_per_day,
        before.state,
    )
    [refill] = records(log_since(pump, mark), "refill")
    assert detail(refill)["added_nl"] == str(full_nl)
    assert detail(refill)["expected_nl"] == str(reply.expected_nl)


def test_a_refill_records_the_measured_residual_and_its_difference(pump: Programmer) -> None:
    before = pump.status()
    measured = before.reservoir_ul * NL_PER_UL - SMALL_DIFFERENCE_NL
    mark = log_mark(pump)
    reply = pump.refill(capacity_nl(pump), before.concentration_ug_per_ml, measured_nl=measured)
    assert reply.measured_nl == measured
    assert reply.discrepancy_nl == reply.measured_nl - reply.expected_nl  # signed
    assert close_to(reply.discrepancy_nl, -SMALL_DIFFERENCE_NL, within=READING_SLACK_NL)
    entries = log_since(pump, mark)
    assert records(entries, "refill", measured_nl=measured)
    assert records(entries, "refill_discrepancy") == []  # within 1 mL [M]


def test_a_refill_more_than_1_ml_off_is_logged_as_a_possible_pocket_fill(
    pump: Programmer,
) -> None:
    before = pump.status()
    measured = before.reservoir_ul * NL_PER_UL - POCKET_FILL_NL
    mark = log_mark(pump)
    reply = pump.refill(capacity_nl(pump), before.concentration_ug_per_ml, measured_nl=measured)
    assert reply.discrepancy_nl < -pump.limits().refill_discrepancy_nl
    [flagged] = records(log_since(pump, mark), "refill_discrepancy")
    assert detail(flagged) == {
        **detail(flagged),
        "expected_nl": str(reply.expected_nl),
        "measured_nl": str(measured),
    }
    assert pump.status().reservoir_ul >= capacity_nl(pump) // NL_PER_UL - 1  # done all the same


def test_a_refill_with_a_new_concentration_and_the_dose_again_recomputes_the_rate(
    pump: Programmer,
) -> None:
    before = pump.status()
    concentration = another_concentration(before.concentration_ug_per_ml)
    pump.refill(capacity_nl(pump), concentration, dose_ug_per_day=before.dose_ug_per_day)
    after = pump.status()
    assert (after.concentration_ug_per_ml, after.dose_ug_per_day) == (
        concentration,
        before.dose_ug_per_day,
    )
    # docs/domain.md [S]: rate (mL/day) = dose (ug/day) / concentration (ug/mL).
    exact_nl = before.dose_ug_per_day * NL_PER_ML / concentration
    assert abs(after.rate_nl_per_day - exact_nl) <= 0.5


@pytest.mark.provokes("DIGEST_MISMATCH")
def test_a_refill_quoting_a_digest_other_than_the_staged_one_is_refused(
    pump: Programmer,
) -> None:
    before = pump.status()
    current = pump.prescription()
    again = replace(as_stage_request(current), mode=Mode.CONTINUOUS)  # the dose entered again
    staged = pump.stage(replace(again, steps=(WireStep(0, before.dose_ug_per_day),)))
    forged = bytes(b ^ 0x5A for b in staged.digest)
    assert forged not in (staged.digest, NO_DIGEST)
    concentration = another_concentration(before.concentration_ug_per_ml)
    with pytest.raises(DeviceRefused) as refused:
        pump.refill_staged(capacity_nl(pump), concentration, forged)
    assert refused.value.reason is Reason.DIGEST_MISMATCH
    after = pump.status()
    assert after.concentration_ug_per_ml == before.concentration_ug_per_ml
    assert after.reservoir_ul <= before.reservoir_ul  # nothing added


@pytest.mark.provokes("VALUE_OUT_OF_RANGE")
def test_a_refill_above_the_reservoirs_capacity_is_refused(pump: Programmer) -> None:
    before = pump.status()
    with pytest.raises(DeviceRefused) as refused:
        pump.refill(capacity_nl(pump) + 1, before.concentration_ug_per_ml)
    assert refused.value.reason is Reason.VALUE_OUT_OF_RANGE
    assert pump.status().reservoir_ul <= before.reservoir_ul


# -- prime ---------------------------------------------------------------------------------


@pytest.mark.needs_control
def test_prime_a_stopped_pump_fills_the_catheter_then_it_stays_stopped(
    pump: Programmer, still: ControlClient
) -> None:
    stopped(pump)
    limits = pump.limits()
    before = still.state()
    reply = pump.prime()  # 0: the catheter volume, 0.2 mL (docs/domain.md [M])
    assert reply.volume_nl == limits.catheter_volume_nl
    assert reply.rate_nl_per_day == limits.max_rate_nl_per_day  # the highest rate [M]
    assert reply.duration_s == reply.volume_nl * S_PER_DAY // reply.rate_nl_per_day  # 720 s
    status = pump.status()
    assert (status.state, status.flow_nl_per_day) == (PumpState.PRIMING, reply.rate_nl_per_day)
    result = still.advance("1h")
    t0 = before["simulated_time_us"]
    assert times_us(result, "bolus_completed", bolus="priming") == [
        t0 + reply.duration_s * US_PER_S
    ]
    assert close_to(result["state"]["pumped_nl"] - before["pumped_nl"], reply.volume_nl)
    status = pump.status()
    assert (status.state, status.flow_nl_per_day, status.basal_on) == (PumpState.STOPPED, 0, 0)


def test_prime_a_chosen_volume(pump: Programmer) -> None:
    stopped(pump)
    volume = 50 * NL_PER_UL
    reply = pump.prime(volume)
    assert reply.volume_nl == volume
    assert reply.duration_s == volume * S_PER_DAY // reply.rate_nl_per_day  # 180 s
    assert pump.status().state is PumpState.PRIMING


@pytest.mark.provokes("WRONG_STATE")
def test_prime_an_infusing_pump_is_refused(pump: Programmer) -> None:
    if pump.status().state is PumpState.STOPPED:
        pump.start()
    with pytest.raises(DeviceRefused) as refused:
        pump.prime()
    assert refused.value.reason is Reason.WRONG_STATE
    assert pump.status().state is PumpState.INFUSING


@pytest.mark.provokes("VALUE_OUT_OF_RANGE")
def test_prime_more_than_its_maximum_is_refused(pump: Programmer) -> None:
    stopped(pump)
    with pytest.raises(DeviceRefused) as refused:
        pump.prime(pump.limits().max_prime_nl + 1)
    assert refused.value.reason is Reason.VALUE_OUT_OF_RANGE
    assert pump.status().state is PumpState.STOPPED


# -- boluses -------------------------------------------------------------------------------


@pytest.mark.needs_control
def test_a_clinician_bolus_runs_then_the_basal_resumes(
    pump: Programmer, still: ControlClient
) -> None:
    if pump.status().state is PumpState.STOPPED:
        pump.start()
    before = still.state()
    reply = pump.bolus(BOLUS_UG, BOLUS_S)
    bolus_nl = BOLUS_UG * NL_PER_ML // before["concentration_ug_per_ml"]  # 0.1 mL
    assert (reply.volume_nl, reply.duration_s) == (bolus_nl, BOLUS_S)
    assert reply.rate_nl_per_day == bolus_nl * S_PER_DAY // BOLUS_S  # 4.8 mL/day
    status = pump.status()
    assert (status.state, status.flow_nl_per_day) == (PumpState.BOLUS, reply.rate_nl_per_day)
    result = still.advance("1h")
    t0 = before["simulated_time_us"]
    assert times_us(result, "bolus_completed", bolus="clinician") == [t0 + BOLUS_S * US_PER_S]
    assert times_us(result, "state", state="infusing") == [t0 + BOLUS_S * US_PER_S]
    # docs/domain.md [S: A810 programming guide]: a dose over a duration replacing the basal,
    # then back to what the pump was doing.
    rate = before["rate_nl_per_day"]
    expected = bolus_nl + volume_nl(rate, US_PER_HOUR - BOLUS_S * US_PER_S)
    assert close_to(result["state"]["pumped_nl"] - before["pumped_nl"], expected)
    status = pump.status()
    assert (status.state, status.flow_nl_per_day) == (PumpState.INFUSING, rate)


@pytest.mark.needs_control
def test_a_bolus_on_a_stopped_pump_leaves_it_stopped_afterwards(
    pump: Programmer, still: ControlClient
) -> None:
    stopped(pump)
    reply = pump.bolus(BOLUS_UG, BOLUS_S)
    assert pump.status().state is PumpState.BOLUS
    result = still.advance("1h")
    assert times_us(result, "state", state="stopped")
    status = pump.status()
    assert (status.state, status.flow_nl_per_day) == (PumpState.STOPPED, 0)
    assert reply.volume_nl == BOLUS_UG * NL_PER_ML // status.concentration_ug_per_ml


@pytest.mark.provokes("DRUG_LIMIT")
def test_a_bolus_above_the_drug_librarys_limit_is_refused(pump: Programmer) -> None:
    before = pump.status()
    drug = next(d for d in pump.limits().drugs if d.name == "baclofen")
    with pytest.raises(DeviceRefused) as refused:
        pump.bolus(drug.max_bolus_ug + 1, BOLUS_S)  # 200 ug [M: twice the largest screening]
    assert refused.value.reason is Reason.DRUG_LIMIT
    assert pump.status().state is before.state


@pytest.mark.needs_control
def test_a_patient_bolus_runs_on_top_of_the_basal(
    device: Device, link_log: LinkLog, still: ControlClient
) -> None:
    with session(device, link_log) as clinician:
        if clinician.status().state is PumpState.STOPPED:
            clinician.start()
        # 50 ug over 10 min, 1 h apart, 4 a day: Prometra-style limits [S], figures [M].
        clinician.set_patient_limits(BOLUS_UG, 600, S_PER_HOUR, 4)
    before = still.state()
    rate = before["rate_nl_per_day"]
    with session(device, link_log, Role.PATIENT) as patient:
        reply = patient.patient_bolus()
        bolus_nl = BOLUS_UG * NL_PER_ML // before["concentration_ug_per_ml"]
        assert (reply.volume_nl, reply.duration_s) == (bolus_nl, 600)
        status = patient.status()
        assert status.state is PumpState.INFUSING  # on top: the basal runs on
        assert status.flow_nl_per_day == rate + reply.rate_nl_per_day
        assert status.patient_bolus_ends_s == status.clock_s + 600
        result = still.advance("1h")
        t0 = before["simulated_time_us"]
        assert times_us(result, "patient_bolus_completed") == [t0 + 600 * US_PER_S]
        pumped = result["state"]["pumped_nl"] - before["pumped_nl"]
        assert close_to(pumped, volume_nl(rate, US_PER_HOUR) + bolus_nl)
        assert patient.status().patient_bolus_ends_s == 0


@pytest.mark.provokes("NOT_PERMITTED")
def test_a_patient_bolus_with_no_limits_programmed_is_not_permitted(
    device: Device, link_log: LinkLog
) -> None:
    with session(device, link_log) as clinician:
        if clinician.prescription().patient_dose_ug:
            clinician.set_patient_limits(0, 0, 0, 0)  # withdrawn (docs/protocol.md section 10)
        assert clinician.prescription().patient_dose_ug == 0
    with session(device, link_log, Role.PATIENT) as patient:
        before = patient.status()
        with pytest.raises(DeviceRefused) as refused:
            patient.patient_bolus()
        assert refused.value.reason is Reason.NOT_PERMITTED
        after = patient.status()
        assert (after.patient_bolus_ends_s, after.flow_nl_per_day) == (0, before.flow_nl_per_day)


# -- the clock -----------------------------------------------------------------------------


def test_setting_the_clock_leaves_the_logs_times_as_they_were(pump: Programmer) -> None:
    history = list(pump.log_entries())
    assert history
    previous = pump.clock()
    new_clock = previous - S_PER_HOUR  # a pump an hour fast, put right
    assert pump.set_clock(new_clock) == new_clock
    assert new_clock <= pump.clock() < new_clock + 60  # a loaded machine: a minute of slack
    after = {entry.index: entry for entry in pump.log_entries()}
    for entry in history:  # docs/protocol.md section 7: a later SET_CLOCK moves no entry
        if entry.index in after:
            assert after[entry.index].t_s == entry.t_s
    [clock_set] = [
        e for e in after.values() if e.index > history[-1].index and e.kind == "clock_set"
    ]
    values = detail(clock_set)
    assert int(values["clock_s"]) == new_clock
    assert previous <= int(values["previous_s"]) < previous + 60
    assert new_clock <= clock_set.t_s < new_clock + 60


@pytest.mark.needs_control
def test_a_flex_schedule_follows_the_clock_when_it_is_set(
    pump: Programmer, still: ControlClient
) -> None:
    base = pump.status().dose_ug_per_day
    midday = base + max(5, base // 5)  # +20 %: within the label's titration [S]
    pump.set_flex((WireStep(0, base), WireStep(12 * S_PER_HOUR, midday)))
    day_start = pump.clock() // S_PER_DAY * S_PER_DAY
    pump.set_clock(day_start + 12 * S_PER_HOUR - 1)  # 11:59:59 UTC
    assert pump.status().dose_ug_per_day == base
    still.advance("1s")
    status = pump.status()
    assert status.mode is Mode.FLEX
    assert status.dose_ug_per_day == midday  # 12:00:00 UTC: the midday step
    pump.set_clock(day_start + 12 * S_PER_HOUR - 1 + S_PER_DAY // 2)  # 23:59:59 UTC
    assert pump.status().dose_ug_per_day == midday
    still.advance("1s")  # midnight: the first step again
    assert pump.status().dose_ug_per_day == base


@pytest.mark.provokes("VALUE_OUT_OF_RANGE")
@pytest.mark.parametrize("clock_s", [MIN_CLOCK_S - 1, MAX_CLOCK_S + 1], ids=["1999", "2100"])
def test_a_clock_outside_2000_to_2099_is_refused(pump: Programmer, clock_s: int) -> None:
    before = pump.clock()
    with pytest.raises(DeviceRefused) as refused:
        pump.set_clock(clock_s)
    assert refused.value.reason is Reason.VALUE_OUT_OF_RANGE
    assert before <= pump.clock() < before + 60
