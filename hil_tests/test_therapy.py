"""Programming over the wire: what is staged is read back, what is committed is in force, and
a refusal changes nothing.

Every test here changes the prescription or whether the pump infuses (``changes_therapy``):
each puts back what was in force and the stopped-or-infusing state itself, and the plugin
verifies it. Doses only ever go up from the one in force, by at most the label's titration
steps, and come back: the dose-change cap compares each new dose with the lowest in force
over 24 h of pump time (docs/protocol.md section 9), so a lower dose here would hold every
later test below 1.4 times it for a day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from hil_tests.expect import S_PER_HOUR, Device, put_back
from programmer import DeviceRefused, Programmer
from programmer.keys import load_keyring
from protocol import (
    AlarmFlags,
    Mode,
    PrescriptionReply,
    PumpState,
    Reason,
    Role,
    StagePrescription,
    WireStep,
    as_stage_request,
)

pytestmark = pytest.mark.changes_therapy

# Lioresal intrathecal label [S] (docs/domain.md): titration +10-30 % per 24 h; a refill
# visit up to +40 %. These tests step by +5 % (at least 5 ug/day) and +20 %.
SMALL_STEP_PCT = 5
FLEX_STEP_PCT = 20
# docs/domain.md, flex [U]: up to 24 steps a day.
MAX_FLEX_STEPS = 24
# docs/domain.md, screening boluses [S]: 25-100 ug; patient limits (Prometra [S]): a dose,
# a duration, a lockout, a maximum a day; the figures are ours [M].
PATIENT_DOSE_UG = 25
PATIENT_DURATION_S = 600
PATIENT_LOCKOUT_S = 2 * S_PER_HOUR
PATIENT_MAX_PER_DAY = 4
S_PER_DAY = 86_400


@pytest.fixture
def kept(pump: Programmer) -> Iterator[StagePrescription]:
    """The prescription in force, and the pump's state, put back after the test."""
    current = pump.prescription()
    if current.mode is Mode.NONE:
        pytest.skip("changes_therapy: nothing programmed to come back to")
    state = pump.status().state
    if state not in (PumpState.STOPPED, PumpState.INFUSING):
        pytest.skip(f"changes_therapy: the pump is {state.name}, neither stopped nor infusing")
    before = as_stage_request(current)
    yield before
    put_back(pump, before, state)


@pytest.fixture
def infusing(pump: Programmer, kept: StagePrescription) -> StagePrescription:
    """The same, started first if it was stopped (``kept`` stops it again afterwards)."""
    if pump.status().state is PumpState.STOPPED:
        pump.start()
    return kept


def daily_dose(prescription: PrescriptionReply | StagePrescription) -> int:
    """The highest step: a dose every test may raise by a titration step and come back to."""
    return max(step.dose_ug_per_day for step in prescription.steps)


def up(dose: int, pct: int) -> int:
    return dose + max(SMALL_STEP_PCT, dose * pct // 100)


def step_in_force(steps: tuple[WireStep, ...], clock_s: int) -> WireStep:
    """docs/protocol.md section 7: starts are seconds after midnight UTC; the last step runs
    past midnight to the first."""
    second = clock_s % S_PER_DAY
    running = [step for step in steps if step.start_s <= second]
    return running[-1] if running else steps[-1]


# -- the basal ---------------------------------------------------------------------------


def test_a_new_dose_reads_back_with_its_rate_from_the_concentration(
    pump: Programmer, infusing: StagePrescription
) -> None:
    dose = up(daily_dose(infusing), SMALL_STEP_PCT)
    change = pump.set_dose(dose)
    assert [(s.start_s, s.dose_ug_per_day) for s in change.staged.steps] == [(0, dose)]
    read = pump.prescription()
    assert (read.mode, read.steps) == (Mode.CONTINUOUS, (WireStep(0, dose),))
    status = pump.status()
    # docs/domain.md [S]: rate (mL/day) = dose (ug/day) / concentration (ug/mL).
    exact_nl = dose * 1_000_000 / status.concentration_ug_per_ml
    assert abs(status.rate_nl_per_day - exact_nl) <= 0.5
    assert change.committed.rate_nl_per_day == status.rate_nl_per_day
    assert (status.dose_ug_per_day, status.state) == (dose, PumpState.INFUSING)


def test_a_flex_schedule_reads_back_step_by_step(
    pump: Programmer, infusing: StagePrescription
) -> None:
    base = daily_dose(infusing)
    # 00:00, 08:00 and 20:00 UTC, as the emulator's flex preset (docs/control.md).
    steps = (
        WireStep(0, base),
        WireStep(8 * S_PER_HOUR, up(base, FLEX_STEP_PCT)),
        WireStep(20 * S_PER_HOUR, base),
    )
    change = pump.set_flex(steps)
    assert change.staged.steps == steps
    read = pump.prescription()
    assert (read.mode, read.steps) == (Mode.FLEX, steps)
    assert read.low_reservoir_ul == infusing.low_reservoir_ul  # the rest kept
    status = pump.status()
    assert status.mode is Mode.FLEX
    assert status.dose_ug_per_day == step_in_force(steps, status.clock_s).dose_ug_per_day


def test_a_flex_schedule_of_24_steps_reads_back_whole(
    pump: Programmer, infusing: StagePrescription
) -> None:
    base = daily_dose(infusing)
    steps = tuple(
        WireStep(hour * S_PER_HOUR, base + (hour % 2) * SMALL_STEP_PCT)
        for hour in range(MAX_FLEX_STEPS)
    )
    assert pump.limits().max_flex_steps == MAX_FLEX_STEPS
    pump.set_flex(steps)
    assert pump.prescription().steps == steps


@pytest.mark.provokes("VALUE_OUT_OF_RANGE")
@pytest.mark.parametrize(
    "starts_s",
    [
        pytest.param(tuple(range(0, 25 * 3_000, 3_000)), id="25-steps"),
        pytest.param((0, 8 * S_PER_HOUR, 8 * S_PER_HOUR), id="two-at-one-time"),
        pytest.param((0, 20 * S_PER_HOUR, 8 * S_PER_HOUR), id="out-of-order"),
        pytest.param((0, S_PER_DAY), id="past-midnight"),
    ],
)
def test_a_flex_schedule_the_pump_cannot_run_is_refused_and_changes_nothing(
    pump: Programmer, kept: StagePrescription, starts_s: tuple[int, ...]
) -> None:
    base = daily_dose(kept)
    with pytest.raises(DeviceRefused) as refused:
        pump.set_flex(tuple(WireStep(start, base) for start in starts_s))
    assert refused.value.reason is Reason.VALUE_OUT_OF_RANGE
    assert as_stage_request(pump.prescription()) == kept


@pytest.mark.provokes("DOSE_CHANGE_LIMIT")
def test_a_dose_above_the_24_hour_cap_is_refused_and_changes_nothing(
    pump: Programmer, kept: StagePrescription
) -> None:
    limits = pump.limits()
    label_max = next(d.max_dose_ug_per_day for d in limits.drugs if d.name == "baclofen")
    lowest = min(step.dose_ug_per_day for step in kept.steps)
    # docs/protocol.md section 9: at most 1.4 x the lowest daily total in force over 24 h
    # [S: label, +40 % at a refill visit]; the label's maximum (1000 ug/day [S]) is above it
    # as long as nothing near it was in force today.
    if lowest * (100 + limits.max_dose_increase_pct) // 100 >= label_max:
        pytest.skip("the dose in force is too high to step over the cap within the label")
    before = pump.status()
    with pytest.raises(DeviceRefused) as refused:
        pump.set_dose(label_max)
    assert refused.value.reason is Reason.DOSE_CHANGE_LIMIT
    assert as_stage_request(pump.prescription()) == kept
    after = pump.status()
    assert (after.dose_ug_per_day, after.rate_nl_per_day, after.state) == (
        before.dose_ug_per_day,
        before.rate_nl_per_day,
        before.state,
    )


def test_a_dose_raised_within_the_cap_may_come_back_at_once(
    pump: Programmer, infusing: StagePrescription
) -> None:
    base = daily_dose(infusing)
    raised = base * 130 // 100  # label titration: +30 % in a day [S]
    pump.set_dose(raised)
    pump.program(infusing)  # back to the dose in force an instant ago: always allowed
    assert as_stage_request(pump.prescription()) == infusing


# -- patient limits and the alarm volume -----------------------------------------------


def test_patient_limits_read_back_with_the_basal_kept(
    pump: Programmer, kept: StagePrescription
) -> None:
    change = pump.set_patient_limits(
        PATIENT_DOSE_UG, PATIENT_DURATION_S, PATIENT_LOCKOUT_S, PATIENT_MAX_PER_DAY
    )
    limits = (PATIENT_DOSE_UG, PATIENT_DURATION_S, PATIENT_LOCKOUT_S, PATIENT_MAX_PER_DAY)
    read = pump.prescription()
    assert (
        read.patient_dose_ug,
        read.patient_duration_s,
        read.patient_lockout_s,
        read.patient_max_per_day,
    ) == limits
    assert (read.mode, read.steps, read.low_reservoir_ul) == (
        kept.mode,
        kept.steps,
        kept.low_reservoir_ul,
    )
    assert change.staged.patient_dose_ug == PATIENT_DOSE_UG


@pytest.mark.provokes("DRUG_LIMIT")
def test_patient_limits_that_could_exceed_the_daily_label_dose_are_refused(
    pump: Programmer, kept: StagePrescription
) -> None:
    # docs/protocol.md section 9: basal plus every permitted patient bolus within 1000 ug/day
    # [S: label]; 200 ug (the bolus limit [M]) 24 times a day is far above it.
    limits = pump.limits()
    drug = next(d for d in limits.drugs if d.name == "baclofen")
    with pytest.raises(DeviceRefused) as refused:
        pump.set_patient_limits(
            drug.max_bolus_ug, PATIENT_DURATION_S, S_PER_HOUR, limits.max_patient_boluses_per_day
        )
    assert refused.value.reason is Reason.DRUG_LIMIT
    assert as_stage_request(pump.prescription()) == kept


@pytest.mark.provokes("VALUE_OUT_OF_RANGE")
def test_a_patient_lockout_shorter_than_the_bolus_is_refused(
    pump: Programmer, kept: StagePrescription
) -> None:
    # docs/protocol.md section 9: the lockout runs from the bolus duration to 24 h.
    with pytest.raises(DeviceRefused) as refused:
        pump.set_patient_limits(
            PATIENT_DOSE_UG, PATIENT_DURATION_S, PATIENT_DURATION_S - 1, PATIENT_MAX_PER_DAY
        )
    assert refused.value.reason is Reason.VALUE_OUT_OF_RANGE
    assert as_stage_request(pump.prescription()) == kept


def test_the_low_reservoir_alarm_volume_reads_back(
    pump: Programmer, kept: StagePrescription
) -> None:
    limits = pump.limits()
    # docs/domain.md [S, U]: 1 mL to capacity - 1 mL; 3 mL, or 2 mL if 3 is in force.
    volume = 3_000 if kept.low_reservoir_ul != 3_000 else 2_000
    assert limits.low_reservoir_min_ul <= volume <= limits.low_reservoir_max_ul
    pump.set_low_reservoir_alarm(volume)
    read = pump.prescription()
    assert read.low_reservoir_ul == volume
    assert (read.mode, read.steps, read.patient_dose_ug) == (
        kept.mode,
        kept.steps,
        kept.patient_dose_ug,
    )
    status = pump.status()
    # Above the new volume no alarm is due; at or below it, the low-reservoir alarm is.
    assert bool(status.alarms & AlarmFlags.LOW_RESERVOIR) == (status.reservoir_ul <= volume)


@pytest.mark.provokes("VALUE_OUT_OF_RANGE")
@pytest.mark.parametrize("side", ["below", "above"])
def test_a_low_reservoir_alarm_volume_outside_its_range_is_refused(
    pump: Programmer, kept: StagePrescription, side: str
) -> None:
    limits = pump.limits()
    volume = limits.low_reservoir_min_ul - 1 if side == "below" else limits.low_reservoir_max_ul + 1
    with pytest.raises(DeviceRefused) as refused:
        pump.set_low_reservoir_alarm(volume)
    assert refused.value.reason is Reason.VALUE_OUT_OF_RANGE
    assert as_stage_request(pump.prescription()) == kept


# -- stopped or infusing -------------------------------------------------------------------


def test_stop_then_start_resumes_the_basal(pump: Programmer, infusing: StagePrescription) -> None:
    stopped = pump.stop(confirm_withdrawal_risk=True)
    assert stopped.state is PumpState.STOPPED
    status = pump.status()
    assert (status.state, status.flow_nl_per_day, status.basal_on) == (PumpState.STOPPED, 0, 0)
    started = pump.start()
    assert started.state is PumpState.INFUSING
    status = pump.status()
    assert status.state is PumpState.INFUSING
    assert status.flow_nl_per_day == status.rate_nl_per_day > 0
    assert as_stage_request(pump.prescription()) == infusing


@pytest.mark.provokes("WRONG_STATE")
def test_start_on_an_infusing_pump_is_refused(
    pump: Programmer, infusing: StagePrescription
) -> None:
    with pytest.raises(DeviceRefused) as refused:
        pump.start()
    assert refused.value.reason is Reason.WRONG_STATE
    assert pump.status().state is PumpState.INFUSING


def test_programming_a_stopped_pump_leaves_it_stopped(
    pump: Programmer, kept: StagePrescription
) -> None:
    if pump.status().state is PumpState.INFUSING:
        pump.stop(confirm_withdrawal_risk=True)
    dose = up(daily_dose(kept), SMALL_STEP_PCT)
    change = pump.set_dose(dose)
    assert change.committed.state is PumpState.STOPPED
    status = pump.status()
    assert (status.state, status.flow_nl_per_day, status.dose_ug_per_day) == (
        PumpState.STOPPED,
        0,
        dose,
    )


def test_programming_a_stopped_pump_with_start_starts_it(
    pump: Programmer, kept: StagePrescription
) -> None:
    if pump.status().state is PumpState.INFUSING:
        pump.stop(confirm_withdrawal_risk=True)
    change = pump.set_dose(up(daily_dose(kept), SMALL_STEP_PCT), start=True)
    assert change.committed.state is PumpState.INFUSING
    status = pump.status()
    assert status.state is PumpState.INFUSING
    assert status.flow_nl_per_day == change.committed.rate_nl_per_day


# -- two steps: what is committed is what was staged ---------------------------------------


@pytest.mark.provokes("DIGEST_MISMATCH")
def test_a_commit_quoting_another_digest_is_refused_and_the_staged_one_kept(
    pump: Programmer, kept: StagePrescription
) -> None:
    dose = up(daily_dose(kept), SMALL_STEP_PCT)
    staged = pump.stage(replace(kept, mode=Mode.CONTINUOUS, steps=(WireStep(0, dose),)))
    forged = replace(staged, digest=bytes(b ^ 0xFF for b in staged.digest))
    with pytest.raises(DeviceRefused) as refused:
        pump.commit(forged)
    assert refused.value.reason is Reason.DIGEST_MISMATCH
    assert as_stage_request(pump.prescription()) == kept
    # docs/protocol.md section 7: kept after DIGEST_MISMATCH, committed with the right one.
    pump.commit(staged)
    assert pump.prescription().steps == (WireStep(0, dose),)


@pytest.mark.provokes("DIGEST_MISMATCH")
def test_a_newer_stage_replaces_the_older_one(pump: Programmer, kept: StagePrescription) -> None:
    first_dose = up(daily_dose(kept), SMALL_STEP_PCT)
    first = pump.stage(replace(kept, mode=Mode.CONTINUOUS, steps=(WireStep(0, first_dose),)))
    second_dose = up(first_dose, SMALL_STEP_PCT)
    second = pump.stage(replace(kept, mode=Mode.CONTINUOUS, steps=(WireStep(0, second_dose),)))
    with pytest.raises(DeviceRefused) as refused:
        pump.commit(first)
    assert refused.value.reason is Reason.DIGEST_MISMATCH
    assert as_stage_request(pump.prescription()) == kept
    pump.commit(second)
    assert pump.prescription().steps == (WireStep(0, second_dose),)


@pytest.mark.provokes("NOTHING_STAGED")
def test_a_staged_prescription_ends_with_its_session(
    pump: Programmer, kept: StagePrescription, device: Device
) -> None:
    dose = up(daily_dose(kept), SMALL_STEP_PCT)
    staged = pump.stage(replace(kept, mode=Mode.CONTINUOUS, steps=(WireStep(0, dose),)))
    assert pump.identity is not None
    keys = load_keyring(pump.identity.serial_number, device.key_file)
    pump.link.close_session()
    pump.open_session(Role.CLINICIAN, keys)  # a new session: nothing staged in it
    with pytest.raises(DeviceRefused) as refused:
        pump.commit(staged)
    assert refused.value.reason is Reason.NOTHING_STAGED
    assert as_stage_request(pump.prescription()) == kept
