"""Leave the device as found: read what therapy the pump is on, put it back, check it is back.

What a test may change and the wire can undo is the prescription (basal, patient limits,
low-reservoir alarm volume) and whether the pump is stopped or infusing. What the wire cannot
undo moves on by itself or is history: drug delivered, the reservoir, the pump clock, the
event log. ``Footprint`` measures those, so the run can say what it changed for good.

Putting therapy back over the wire (``restore``):

- a pump to be left stopped is stopped first (confirmed: stopping baclofen risks withdrawal),
  so a test's prescription does not run on while the old one is programmed back;
- a pump in a bolus, priming or a stall is stopped first too: programming is refused there;
- the prescription is programmed back, committed with ``start`` when the pump was infusing
  and is now stopped; else a stopped pump that was infusing is started.

The dose-change cap (docs/protocol.md, section 9) lets a pump return to any total in force
during the last 24 h of its time, so a restore within the day is one step. After a time jump
(an emulator's ``advance`` with ``--allow-destructive --no-snapshot``) it may refuse: given a
way to let a day pass (``wait_a_day``), the total is raised by what the cap allows, a day
apart, until it is back; without one the restore fails and says why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from programmer import DeviceRefused, Programmer
from protocol import Mode, PumpState, Reason, StagePrescription, WireStep, as_stage_request

RESTORABLE_STATES = (PumpState.STOPPED, PumpState.INFUSING)
S_PER_DAY = 86_400
MAX_CAP_STEPS = 12  # 1.4 ** 12 ~ 57: any dose within the label from any other
LOG_END = 0xFFFF_FFFF  # read_log from here: no entries, just the index the next one will have
CLOCK_SLACK_S = 5  # a pump clock that moved this much more or less than the wall clock was set
_CAP_LIMIT = re.compile(r"above the limit ([0-9.]+) ug/day")


class NotAsFound(Exception):
    """The device could not be put back as it was found: one line, what differs."""


@dataclass(frozen=True)
class Therapy:
    """What the plugin restores: the prescription and whether the pump infuses."""

    prescription: StagePrescription
    state: PumpState

    @property
    def not_restorable(self) -> str | None:
        """Why therapy changes could not be put back from here over the wire (None: they can)."""
        if self.prescription.mode is Mode.NONE:
            return "no prescription is programmed"
        if self.state not in RESTORABLE_STATES:
            return f"the pump is {self.state.name.lower()}, not stopped or infusing"
        return None

    def describe(self) -> str:
        return f"{describe_prescription(self.prescription)}; {self.state.name.lower()}"


def read_therapy(programmer: Programmer) -> Therapy:
    return Therapy(as_stage_request(programmer.prescription()), programmer.status().state)


def differences(found: Therapy, now: Therapy, *, state: bool = True) -> list[str]:
    """What differs, each as 'what: now X, was Y'."""
    was, is_ = found.prescription, now.prescription
    out: list[str] = []
    if (was.mode, was.steps) != (is_.mode, is_.steps):
        out.append(f"basal {describe_basal(is_)}, was {describe_basal(was)}")
    if _patient(was) != _patient(is_):
        out.append(f"patient limits {describe_patient(is_)}, was {describe_patient(was)}")
    if was.low_reservoir_ul != is_.low_reservoir_ul:
        out.append(f"low-reservoir alarm {is_.low_reservoir_ul} uL, was {was.low_reservoir_ul} uL")
    if state and found.state is not now.state:
        out.append(f"pump {now.state.name.lower()}, was {found.state.name.lower()}")
    return out


def restore(
    programmer: Programmer, found: Therapy, *, wait_a_day: Callable[[], object] | None = None
) -> list[str]:
    """Put the therapy back over the wire; returns what was done (nothing: it was as found).
    Raises NotAsFound when the pump refuses."""
    reason = found.not_restorable
    now = read_therapy(programmer)
    if not differences(found, now):
        return []
    if reason is not None:
        raise NotAsFound(f"cannot be put back over the wire: as found, {reason}")
    done: list[str] = []
    state = now.state
    try:
        if state is not PumpState.STOPPED and (
            found.state is PumpState.STOPPED or state not in RESTORABLE_STATES
        ):
            programmer.stop(confirm_withdrawal_risk=True)
            done.append(f"stopped ({state.name.lower()})")
            state = PumpState.STOPPED
        start = found.state is PumpState.INFUSING and state is PumpState.STOPPED
        if now.prescription != found.prescription:
            done.extend(_program(programmer, found.prescription, start, wait_a_day))
        elif start:
            programmer.start()
            done.append("started")
    except DeviceRefused as refusal:
        raise NotAsFound(
            f"the pump refused putting it back ({refusal.reason.name}: {refusal.message}); "
            f"done so far: {', '.join(done) or 'nothing'}"
        ) from None
    return done


def verify(programmer: Programmer, found: Therapy, *, state: bool = True) -> None:
    """Raise NotAsFound naming every difference from the therapy found."""
    different = differences(found, read_therapy(programmer), state=state)
    if different:
        raise NotAsFound("; ".join(different))


def _program(
    programmer: Programmer,
    target: StagePrescription,
    start: bool,
    wait_a_day: Callable[[], object] | None,
) -> list[str]:
    done: list[str] = []
    for _ in range(MAX_CAP_STEPS):
        try:
            programmer.program(target, start=start)
        except DeviceRefused as refusal:
            limit = _cap_limit(refusal)
            if limit is None or wait_a_day is None:
                raise
            step = scaled(target, limit)
            programmer.program(step, start=start)
            done.append(f"programmed {describe_basal(step)} (the dose-change cap), a day passed")
            start = False
            wait_a_day()
            continue
        done.append(f"programmed {describe_basal(target)}" + (" and started" if start else ""))
        return done
    raise NotAsFound(f"the dose-change cap still refuses after {MAX_CAP_STEPS} days of steps")


def _cap_limit(refusal: DeviceRefused) -> float | None:
    if refusal.reason is not Reason.DOSE_CHANGE_LIMIT:
        return None
    match = _CAP_LIMIT.search(refusal.message)
    return float(match.group(1)) if match else None


def daily_total_ug(prescription: StagePrescription) -> float:
    """The basal's daily total: a flex step runs until the next one starts, the last one
    through midnight to the first."""
    steps = prescription.steps
    if not steps:
        return 0.0
    total = 0.0
    for i, step in enumerate(steps):
        end_s = steps[i + 1].start_s if i + 1 < len(steps) else steps[0].start_s + S_PER_DAY
        total += step.dose_ug_per_day * (end_s - step.start_s) / S_PER_DAY
    return total


def scaled(target: StagePrescription, limit_ug_per_day: float) -> StagePrescription:
    """The target's basal scaled down to a daily total at most ``limit_ug_per_day``."""
    factor = min(1.0, limit_ug_per_day / max(daily_total_ug(target), 1e-9))
    steps = tuple(
        WireStep(step.start_s, max(1, int(step.dose_ug_per_day * factor))) for step in target.steps
    )
    return replace(target, steps=steps)


@dataclass(frozen=True)
class Footprint:
    """What the wire cannot undo, at one moment: delivery, reservoir, clock, log."""

    wall_s: float
    clock_s: int
    infused_ug: int
    reservoir_ul: int
    concentration_ug_per_ml: int
    log_next: int

    def as_json(self) -> dict[str, object]:
        return {
            "clock_s": self.clock_s,
            "infused_ug": self.infused_ug,
            "reservoir_ul": self.reservoir_ul,
            "concentration_ug_per_ml": self.concentration_ug_per_ml,
            "log_next": self.log_next,
        }


def read_footprint(programmer: Programmer) -> Footprint:
    status = programmer.status()
    page = programmer.read_log(LOG_END, 1)
    return Footprint(
        time.time(),
        status.clock_s,
        status.infused_ug,
        status.reservoir_ul,
        status.concentration_ug_per_ml,
        page.next,
    )


def changed_for_good(start: Footprint, end: Footprint) -> list[str]:
    """What the run changed that cannot be undone, in words."""
    out: list[str] = []
    if end.log_next != start.log_next:
        out.append(
            f"{end.log_next - start.log_next} log entries written "
            f"(index {start.log_next} to {end.log_next})"
        )
    if end.infused_ug != start.infused_ug:
        out.append(
            f"drug delivered: {end.infused_ug - start.infused_ug} ug "
            f"(infused {start.infused_ug} to {end.infused_ug} ug)"
        )
    if end.reservoir_ul != start.reservoir_ul:
        out.append(f"reservoir {start.reservoir_ul} to {end.reservoir_ul} uL")
    if end.concentration_ug_per_ml != start.concentration_ug_per_ml:
        out.append(
            f"concentration {start.concentration_ug_per_ml} to "
            f"{end.concentration_ug_per_ml} ug/mL (a refill)"
        )
    clock_moved_s = end.clock_s - start.clock_s
    wall_moved_s = end.wall_s - start.wall_s
    if abs(clock_moved_s - wall_moved_s) > CLOCK_SLACK_S:
        out.append(
            f"pump clock moved {clock_moved_s:+d} s in {wall_moved_s:.0f} s of wall time "
            "(set, or simulated time jumped)"
        )
    return out


def describe_prescription(prescription: StagePrescription) -> str:
    return (
        f"{describe_basal(prescription)}, patient {describe_patient(prescription)}, "
        f"low-reservoir alarm {prescription.low_reservoir_ul} uL"
    )


def describe_basal(prescription: StagePrescription) -> str:
    if prescription.mode is Mode.NONE:
        return "none"
    if prescription.mode is Mode.CONTINUOUS and len(prescription.steps) == 1:
        return f"continuous {prescription.steps[0].dose_ug_per_day} ug/day"
    steps = " ".join(
        f"{s.start_s // 3600:02d}:{s.start_s % 3600 // 60:02d}={s.dose_ug_per_day}"
        for s in prescription.steps
    )
    return f"{prescription.mode.name.lower()} {steps} ug/day"


def describe_patient(prescription: StagePrescription) -> str:
    if not prescription.patient_dose_ug:
        return "boluses off"
    return (
        f"{prescription.patient_dose_ug} ug over {prescription.patient_duration_s} s, "
        f"lockout {prescription.patient_lockout_s} s, {prescription.patient_max_per_day}/day"
    )


def _patient(prescription: StagePrescription) -> tuple[int, int, int, int]:
    return (
        prescription.patient_dose_ug,
        prescription.patient_duration_s,
        prescription.patient_lockout_s,
        prescription.patient_max_per_day,
    )
