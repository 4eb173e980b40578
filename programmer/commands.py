"""What each ``pump-programmer`` command does, once the session is open.

Every changing command follows one pattern: read the pump (status, limits, what is in
force), check the request against the pump's limits in the clinician's units, stage it when
it is a prescription, show the screen (what is now, what will be, the state included), ask,
and only then send. If the session ended while the clinician was deciding, the prescription
is staged again in a new session and the question asked again: nothing is ever committed on
an answer older than its session.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from programmer import checks
from programmer.checks import NL_PER_ML
from programmer.client import Change, Programmer, continuous, flex, programmed
from programmer.confirm import Confirmation, NothingToDo
from programmer.errors import NotExecuted, UsageError, WouldBeRefused
from programmer.flex_input import FlexInputError, TypedStep, schedule
from programmer.formatting import (
    format_alarms,
    format_identity,
    format_prescription,
    format_status,
    plain,
)
from programmer.log_download import log_command
from programmer.screens import (
    Screen,
    daily_total_ug,
    prescription_rows,
    state_after_commit,
    state_after_refill,
    state_name,
    state_row,
    time_of_day,
    utc,
)
from protocol import (
    NO_DIGEST,
    AlarmCode,
    LimitsReply,
    Mode,
    PrescriptionFields,
    PrescriptionReply,
    PumpState,
    Staged,
    StagePrescription,
    StatusReply,
    WireStep,
    as_stage_request,
)

Result = tuple[Any, str]
MAX_ROUNDS = 3  # stage-and-ask rounds when sessions keep ending while the clinician decides


@dataclass
class Ui:
    """How a command talks to the person at the programmer."""

    confirmation: Confirmation
    say: Callable[[str], None]
    local_zone: Any = None  # --local: the zone flex times were typed in


# -- interrogation ------------------------------------------------------------------------


def status(p: Programmer, _: argparse.Namespace, ui: Ui) -> Result:
    reply = p.status()
    hello = p.identity
    assert hello is not None
    limits = p.limits() if p.can_read_limits() else None
    data = {"identity": plain(hello), "status": plain(reply)}
    catheter_nl = None if limits is None else limits.catheter_volume_nl
    return data, f"{format_identity(hello)}\n{format_status(reply, catheter_nl)}"


def hello(p: Programmer, _: argparse.Namespace, ui: Ui) -> Result:
    reply = p.identity or p.hello()
    return {"identity": plain(reply)}, format_identity(reply)


def prescription(p: Programmer, _: argparse.Namespace, ui: Ui) -> Result:
    reply = p.prescription()
    concentration = p.status().concentration_ug_per_ml
    return plain(reply), format_prescription(reply, concentration)


def alarms(p: Programmer, _: argparse.Namespace, ui: Ui) -> Result:
    reply = p.alarms()
    return plain(reply), format_alarms(reply)


def clock(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    now_s = p.clock()
    if args.set is None:
        return {"clock_s": now_s}, f"Pump clock {utc(now_s)} ({now_s} s)"
    new_s = int(time.time()) if args.set == "now" else args.set
    checks.check_clock(p.limits(), new_s)
    screen = Screen("Setting the pump clock")
    screen.row("Pump clock", utc(now_s), utc(new_s))
    shift_s = new_s - now_s
    if shift_s:
        way = "forward" if shift_s > 0 else "back"
        screen.line("Change", f"{way} by {checks.duration(abs(shift_s))}")
    else:
        screen.line("Change", "none (to the second)")
    in_force = p.prescription()
    if in_force.mode == Mode.FLEX:
        conc = p.status().concentration_ug_per_ml
        screen.row(
            "Basal step",
            step_text(step_at(in_force, now_s), conc),
            step_text(step_at(in_force, new_s), conc),
        )
        screen.notes.append("the flex schedule follows the pump clock's time of day (UTC)")
    screen.notes.append("log entries and alarms keep the times they were written at")
    ui.confirmation.confirm(screen)
    set_s = p.set_clock(new_s)
    return {"clock_s": set_s}, f"Pump clock set: {utc(set_s)} ({set_s} s)"


# -- programming --------------------------------------------------------------------------


Build = Callable[[PrescriptionReply, StatusReply, LimitsReply], StagePrescription]


def program(p: Programmer, ui: Ui, build: Build, start: bool, notes: Sequence[str]) -> Result:
    """Stage, show, ask, commit; again in a new session if the old one ended meanwhile."""
    for _ in range(MAX_ROUNDS):
        before = p.prescription()
        now = p.status()
        request = build(before, now, p.limits())
        if request == as_stage_request(before) and not (start and now.state == PumpState.STOPPED):
            raise NothingToDo("that is the prescription in force already: nothing sent")
        staged = p.stage(request)
        screen = Screen(
            "The pump read back what it will do; nothing changes until it is confirmed",
            ("in force", "staged"),
        )
        state_row(screen, now.state, state_after_commit(now.state, start))
        concentration = now.concentration_ug_per_ml
        prescription_rows(screen, before, staged, concentration, concentration)
        screen.notes += notes
        if now.state == PumpState.STOPPED and not start:
            screen.notes.append("the pump stays stopped: add --start to start delivery")
        ui.confirmation.confirm(screen)
        try:
            committed = p.commit(staged, start=start)
        except NotExecuted:
            ui.say("the session ended while you were deciding: staging again, to ask again")
            continue
        return change_result(Change(before, staged, committed))
    raise WouldBeRefused("the session kept ending while the change was being confirmed")


def change_result(change: Change) -> Result:
    committed = change.committed
    which = "the current step's " if change.staged.mode == Mode.FLEX else ""
    text = (
        f"Committed: the pump is {state_name(committed.state)}; {which}basal rate "
        f"{checks.ml(committed.rate_nl_per_day)}/day"
    )
    data = {
        "before": plain(change.before),
        "staged": plain(change.staged),
        "committed": plain(committed),
    }
    return data, text


def current_drug(limits: LimitsReply) -> str:
    """The drug the dose checks use: the library's, or its most restrictive entry."""
    return min(limits.drugs, key=lambda d: d.max_dose_ug_per_day).name


def set_dose(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    dose = args.dose_ug_per_day

    def build(
        before: PrescriptionReply, now: StatusReply, limits: LimitsReply
    ) -> StagePrescription:
        checks.check_doses(limits, current_drug(limits), [dose], now.concentration_ug_per_ml)
        return continuous(before, dose)

    return program(p, ui, build, args.start, ())


def set_flex(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    plan = flex_schedule(args.steps, ui)

    def build(
        before: PrescriptionReply, now: StatusReply, limits: LimitsReply
    ) -> StagePrescription:
        doses = [s.dose_ug_per_day for s in plan.steps]
        checks.check_doses(limits, current_drug(limits), doses, now.concentration_ug_per_ml)
        return flex(before, plan.steps)

    return program(p, ui, build, args.start, plan.notes)


def flex_schedule(steps: list[TypedStep], ui: Ui) -> Any:
    try:
        return schedule(steps, local_zone=ui.local_zone, on=datetime.now(UTC))
    except FlexInputError as exc:
        raise UsageError(str(exc)) from None


def patient_limits(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    def build(
        before: PrescriptionReply, now: StatusReply, limits: LimitsReply
    ) -> StagePrescription:
        checks.check_patient_limits(
            limits,
            current_drug(limits),
            args.dose_ug,
            args.duration_s,
            args.lockout_s,
            args.max_per_day,
            now.concentration_ug_per_ml,
            [step.dose_ug_per_day for step in before.steps],
        )
        return replace(
            programmed(before),
            patient_dose_ug=args.dose_ug,
            patient_duration_s=args.duration_s,
            patient_lockout_s=args.lockout_s,
            patient_max_per_day=args.max_per_day,
        )

    return program(p, ui, build, args.start, ())


def low_reservoir_alarm(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    notes: list[str] = []

    def build(
        before: PrescriptionReply, now: StatusReply, limits: LimitsReply
    ) -> StagePrescription:
        checks.check_low_reservoir(limits, args.volume_nl)
        notes.clear()
        if args.volume_nl >= now.reservoir_ul * 1_000:
            notes.append(
                f"the reservoir holds {checks.ml(now.reservoir_ul * 1_000)}, less than "
                f"{checks.ml(args.volume_nl)}: the low-reservoir alarm will sound at once"
            )
        return replace(programmed(before), low_reservoir_ul=args.volume_nl // 1_000)

    return program(p, ui, build, args.start, notes)


# -- delivery -----------------------------------------------------------------------------


def bolus(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    now = p.status()
    limits = p.limits()
    conc = now.concentration_ug_per_ml
    checks.check_bolus(limits, current_drug(limits), args.dose_ug, args.duration_s, conc)
    if now.state not in (PumpState.STOPPED, PumpState.INFUSING):
        raise WouldBeRefused(
            f"a bolus needs the pump stopped or infusing; it is {state_name(now.state)}"
        )
    volume = checks.rate_nl_per_day(args.dose_ug, conc)
    rate = checks.rate_nl_per_day(args.dose_ug, conc, 86_400 / args.duration_s)
    screen = Screen("Clinician bolus")
    state_row(screen, now.state, PumpState.BOLUS)
    screen.row(
        "Bolus",
        "none",
        f"{args.dose_ug} ug = {checks.ml(volume)} over {checks.duration(args.duration_s)} "
        f"({checks.ml(rate)}/day)",
    )
    screen.notes.append(
        f"the bolus replaces the basal for its duration; then the pump is {state_name(now.state)}"
        " again"
    )
    ui.confirmation.confirm(screen)
    reply = p.bolus(args.dose_ug, args.duration_s)
    return plain(reply), delivery_text("Bolus", reply, args.dose_ug)


def prime(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    now = p.status()
    limits = p.limits()
    checks.check_prime(limits, args.volume_nl)
    if now.state != PumpState.STOPPED:
        raise WouldBeRefused(f"priming needs a stopped pump; it is {state_name(now.state)}")
    volume = limits.catheter_volume_nl if args.volume_nl is None else args.volume_nl
    what = "the catheter volume" if args.volume_nl is None else "as given"
    minutes = volume * 86_400 / limits.max_rate_nl_per_day / 60
    screen = Screen("Priming bolus")
    state_row(screen, now.state, PumpState.PRIMING)
    screen.row(
        "Priming",
        "none",
        f"{checks.ml3(volume)} ({what}) at {checks.ml(limits.max_rate_nl_per_day)}/day, "
        f"{minutes:.0f} min",
    )
    screen.notes.append("then the pump is stopped again")
    if now.infused_ug > 0 and now.concentration_ug_per_ml:
        # Drug has reached the tip before, so the catheter is full of drug: what the prime
        # pushes leaves the tip as a bolus (docs/domain.md: catheter dead space).
        bolus_ug = volume * now.concentration_ug_per_ml // NL_PER_ML
        screen.warnings.append(
            f"this catheter has delivered drug before and is full: priming pushes "
            f"{checks.ml3(volume)} of {now.concentration_ug_per_ml} ug/mL, about {bolus_ug} ug, "
            "into the spinal fluid as a bolus"
        )
    ui.confirmation.confirm(screen)
    reply = p.prime(0 if args.volume_nl is None else args.volume_nl)
    return plain(reply), delivery_text("Priming", reply)


def patient_bolus(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    reply = p.patient_bolus()
    concentration = p.status().concentration_ug_per_ml  # a patient may read the status
    dose_ug = reply.volume_nl * concentration // NL_PER_ML
    return plain(reply), delivery_text("Patient bolus", reply, dose_ug)


def delivery_text(what: str, reply: Any, dose_ug: int | None = None) -> str:
    dose = "" if dose_ug is None else f"{dose_ug} ug, "
    return (
        f"{what}: {dose}{checks.ml(reply.volume_nl)} at {checks.ml(reply.rate_nl_per_day)}/day "
        f"over {checks.duration(reply.duration_s)}"
    )


def stop(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    if not args.confirm_withdrawal_risk:
        raise UsageError(
            "stopping needs --confirm-withdrawal-risk: abrupt baclofen withdrawal can be "
            "life-threatening (the pump refuses a stop without it: CONFIRMATION_REQUIRED)"
        )
    now = p.status()
    if now.state == PumpState.STOPPED:
        raise NothingToDo("the pump is already stopped: nothing sent")
    if now.state == PumpState.END_OF_SERVICE:
        raise WouldBeRefused("the pump is at end of service: it delivers nothing")
    screen = Screen("Stop delivery")
    state_row(screen, now.state, PumpState.STOPPED)
    screen.notes.append("abrupt baclofen withdrawal can be life-threatening")
    ui.confirmation.confirm(screen)
    reply = p.stop(confirm_withdrawal_risk=True)
    return plain(reply), f"Stopped: the pump is {state_name(reply.state)}"


def start(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    now = p.status()
    in_force = p.prescription()
    if in_force.mode == Mode.NONE:
        raise WouldBeRefused("nothing is programmed to start: program a dose first (set-dose)")
    if now.state == PumpState.INFUSING:
        raise NothingToDo("the pump is already infusing: nothing sent")
    if now.state != PumpState.STOPPED:
        raise WouldBeRefused(f"start resumes a stopped pump; it is {state_name(now.state)}")
    screen = Screen("Start delivery")
    state_row(
        screen, now.state, PumpState.INFUSING if now.state == PumpState.STOPPED else now.state
    )
    conc = now.concentration_ug_per_ml
    prescription_rows(screen, in_force, in_force, conc, conc)
    ui.confirmation.confirm(screen)
    reply = p.start()
    return plain(reply), f"Started: the pump is {state_name(reply.state)}"


def acknowledge(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    reply = p.acknowledge(args.alarm)
    return plain(reply), format_alarms(reply)


# -- refill -------------------------------------------------------------------------------


def refill(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    for _ in range(MAX_ROUNDS):
        try:
            return refill_once(p, args, ui)
        except NotExecuted:
            ui.say("the session ended while you were deciding: staging again, to ask again")
    raise WouldBeRefused("the session kept ending while the refill was being confirmed")


def refill_once(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    now = p.status()
    limits = p.limits()
    before = p.prescription()
    checks.check_refill(limits, args.volume_nl, args.concentration, args.measured_nl, args.drug)
    new_conc = args.concentration
    old_conc = now.concentration_ug_per_ml
    request = refill_prescription(before, now, args, ui, limits)
    staged = None if request is None else p.stage(request)
    screen = Screen(f"Refill with {args.drug}: withdraw what is left, then fill", ("now", "after"))
    after_state = state_after_refill(now.state, bool(now.basal_on), args.volume_nl, limits.empty_nl)
    state_row(screen, now.state, after_state)
    expected_nl = now.reservoir_ul * 1_000
    screen.row("Reservoir", checks.ml3(expected_nl), checks.ml3(args.volume_nl))
    screen.line("Withdrawn", residual_text(expected_nl, args.measured_nl))
    screen.row("Concentration", concentration_text(old_conc), concentration_text(new_conc))
    after = before if staged is None else staged
    if staged is not None or before.mode != Mode.NONE:
        prescription_rows(screen, before, after, old_conc, new_conc)
    if staged is None and before.mode != Mode.NONE:
        screen.notes.append("doses unchanged; rates follow the concentration")
    if request is not None and before.mode == Mode.FLEX and getattr(args, "flex_notes", None):
        screen.notes += args.flex_notes
    if old_conc and new_conc != old_conc and after.mode != Mode.NONE:
        text = catheter_note(limits.catheter_volume_nl, old_conc, new_conc, after)
        # More than the programmed dose is an overdose risk: a warning, not a note.
        (screen.warnings if old_conc > new_conc else screen.notes).append(text)
    if now.state == PumpState.EMPTY and after_state == PumpState.INFUSING:
        screen.notes.append(empty_since(p, now.clock_s))
    withdrawal = None
    if args.volume_nl <= limits.empty_nl:
        withdrawal = (
            f"{checks.ml3(args.volume_nl)} is at or below the pump's empty level "
            f"({checks.ml3(limits.empty_nl)}): the reservoir is empty at once and delivers "
            "nothing"
        )
        if after_state == PumpState.EMPTY and now.state != PumpState.EMPTY:
            withdrawal += "; abrupt baclofen withdrawal can be life-threatening"
        screen.warnings.append(withdrawal)
    elif args.volume_nl <= after.low_reservoir_ul * 1_000:
        screen.notes.append(
            f"{checks.ml3(args.volume_nl)} is at or below the low-reservoir alarm volume "
            f"({checks.ml3(after.low_reservoir_ul * 1_000)}): the alarm will sound at once"
        )
    if now.state == PumpState.STOPPED:
        screen.notes.append("the pump stays stopped after the refill: start it with `start`")
    discrepancy = None
    if args.measured_nl is not None:
        difference = args.measured_nl - expected_nl
        if abs(difference) > limits.refill_discrepancy_nl:
            discrepancy = (
                f"the measured residual differs from the expected by {checks.ml3(abs(difference))}"
                f" (more than {checks.ml3(limits.refill_discrepancy_nl)}): drug may have gone "
                "into the pocket instead of the pump, or the catheter may be leaking or blocked"
            )
            screen.warnings.append(discrepancy)
    if discrepancy is not None and ui.confirmation.dry_run and not args.accept_discrepancy:
        screen.notes.append(
            "sent for real, this refill needs a second answer (or --accept-discrepancy)"
        )
    ui.confirmation.confirm(screen)
    if withdrawal is not None and after_state == PumpState.EMPTY and now.state != after_state:
        ui.confirmation.confirm_again(
            "this refill stops delivery (see above)",
            "Refill so little anyway?",
            args.confirm_withdrawal_risk,
            "--confirm-withdrawal-risk",
        )
    if discrepancy is not None:
        ui.confirmation.confirm_again(
            "the measured residual is not what the pump expected (see above)",
            "Refill anyway?",
            args.accept_discrepancy,
            "--accept-discrepancy",
        )
    digest = NO_DIGEST if staged is None else staged.digest
    reply = p.refill_staged(args.volume_nl, new_conc, digest, args.measured_nl, args.drug)
    if args.measured_nl is None:
        residual = "not measured"
    else:
        residual = (
            f"measured {checks.ml3(reply.measured_nl)} "
            f"(difference {checks.ml3(reply.discrepancy_nl, sign=True)})"
        )
    text = (
        f"Refilled with {checks.ml3(args.volume_nl)} of {args.drug} {new_conc} ug/mL; "
        f"expected {checks.ml3(reply.expected_nl)} left, {residual}; "
        f"the pump is {state_name(reply.state)}"
    )
    return plain(reply), text


def empty_since(p: Programmer, clock_s: int) -> str:
    """How long an empty pump has delivered nothing: the clinician restarts a full dose."""
    raised = [a.raised_s for a in p.alarms().alarms if a.alarm == AlarmCode.EMPTY_RESERVOIR]
    if not raised:
        return "the pump has been empty: delivery resumes at the full programmed dose"
    gap_s = max(0, clock_s - raised[0])
    return (
        f"the pump has delivered nothing since {utc(raised[0])} ({checks.duration(gap_s)}): "
        "delivery resumes at once at the full programmed dose"
    )


def step_at(p: PrescriptionFields, clock_s: int) -> WireStep:
    """The flex step in force at a pump-clock instant: the last to start by its time of day
    (before the first start, yesterday's last step runs on)."""
    of_day = clock_s % 86_400
    steps = sorted(p.steps, key=lambda step: step.start_s)
    started = [step for step in steps if step.start_s <= of_day]
    return started[-1] if started else steps[-1]


def step_text(step: WireStep, concentration: int) -> str:
    rate = checks.rate_nl_per_day(step.dose_ug_per_day, concentration)
    return f"{time_of_day(step.start_s)} {step.dose_ug_per_day} ug/day ({checks.ml(rate)}/day)"


def residual_text(expected_nl: int, measured_nl: int | None) -> str:
    expected = f"expected {checks.ml3(expected_nl)}"
    if measured_nl is None:
        return f"{expected}; not measured (the pump's figure is used)"
    difference = measured_nl - expected_nl
    if difference == 0:
        return f"{expected}; measured {checks.ml3(measured_nl)}, as expected"
    side = "more" if difference > 0 else "less"
    return (
        f"{expected}; measured {checks.ml3(measured_nl)} "
        f"({checks.ml3(abs(difference))} {side} than expected)"
    )


def concentration_text(concentration_ug_per_ml: int) -> str:
    return f"{concentration_ug_per_ml} ug/mL" if concentration_ug_per_ml else "none (empty)"


def catheter_note(
    catheter_nl: int, old_conc: int, new_conc: int, after: PrescriptionFields | Staged
) -> str:
    """The old drug in the catheter leaves at the new rate: the dose is off until it is out."""
    daily_ug = round(daily_total_ug(after))
    rate_nl_per_day = checks.rate_nl_per_day(daily_ug, new_conc) if daily_ug else 0
    factor = old_conc / new_conc
    text = (
        f"the catheter still holds {checks.ml3(catheter_nl)} of the old {old_conc} ug/mL drug; "
        f"pushed at the new rate it delivers {factor:.2f} x the programmed dose"
    )
    if rate_nl_per_day:
        hours = catheter_nl / rate_nl_per_day * 24
        text += f" for about {hours:.0f} h ({daily_ug * factor:.0f} instead of {daily_ug} ug/day)"
    return text + " (docs/domain.md: catheter dead space)"


def refill_prescription(
    before: PrescriptionReply,
    now: StatusReply,
    args: argparse.Namespace,
    ui: Ui,
    limits: LimitsReply,
) -> StagePrescription | None:
    """The prescription a refill re-enters, from --dose, --flex or --keep-doses."""
    changes = args.concentration != now.concentration_ug_per_ml
    programmed_now = before.mode != Mode.NONE
    chosen = [o for o in ("dose", "flex", "keep_doses") if getattr(args, o)]
    if len(chosen) > 1:
        raise UsageError("give one of --dose, --flex and --keep-doses")
    if not chosen:
        if changes and programmed_now:
            raise UsageError(
                f"a new concentration ({now.concentration_ug_per_ml} -> {args.concentration} "
                "ug/mL) needs the dose entered again: --dose UG_PER_DAY (continuous), "
                "--flex HH:MM=UG_PER_DAY ... (a schedule), or --keep-doses"
            )
        return None
    drug = args.drug
    if args.keep_doses:
        if not programmed_now:
            raise WouldBeRefused("nothing is programmed: --keep-doses has no doses to keep")
        request = programmed(before)
        doses = [s.dose_ug_per_day for s in request.steps]
    elif args.dose is not None:
        if before.mode == Mode.FLEX:
            raise UsageError(
                "this pump runs a flex schedule: give it again with --flex HH:MM=UG_PER_DAY "
                "..., or keep every step's dose with --keep-doses (a bare --dose would make "
                "it continuous)"
            )
        request = continuous(before, args.dose)
        doses = [args.dose]
    else:
        plan = flex_schedule(args.flex, ui)
        args.flex_notes = plan.notes
        request = flex(before, plan.steps)
        doses = [s.dose_ug_per_day for s in plan.steps]
    checks.check_doses(limits, drug, doses, args.concentration)
    return request


COMMANDS: dict[str, Callable[[Programmer, argparse.Namespace, Ui], Result]] = {
    "hello": hello,
    "status": status,
    "prescription": prescription,
    "set-dose": set_dose,
    "flex": set_flex,
    "patient-limits": patient_limits,
    "low-reservoir-alarm": low_reservoir_alarm,
    "bolus": bolus,
    "prime": prime,
    "patient-bolus": patient_bolus,
    "stop": stop,
    "start": start,
    "refill": refill,
    "alarms": alarms,
    "ack": acknowledge,
    "log": log_command,
    "clock": clock,
}

# Who may run what: anything else needs the clinician role.
PATIENT_COMMANDS = frozenset({"hello", "status", "patient-bolus", "watch"})
READ_ONLY_COMMANDS = frozenset(
    {"hello", "status", "prescription", "alarms", "log", "clock", "watch"}
)
CHANGING_COMMANDS = frozenset(
    {"set-dose", "flex", "patient-limits", "low-reservoir-alarm", "bolus", "prime", "stop",
     "start", "refill", "clock"}
)  # fmt: skip
