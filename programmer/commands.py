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
from programmer.client import Change, Programmer, continuous, flex, programmed
from programmer.confirm import Confirmation, NothingToDo
from programmer.errors import NotExecuted, UsageError, WouldBeRefused
from programmer.flex_input import FlexInputError, TypedStep, schedule
from programmer.formatting import (
    format_alarms,
    format_identity,
    format_log_record,
    format_prescription,
    format_status,
    plain,
)
from programmer.screens import (
    Screen,
    prescription_rows,
    state_after_commit,
    state_after_refill,
    state_name,
    state_row,
    utc,
)
from protocol import (
    NO_DIGEST,
    LimitsReply,
    Mode,
    PrescriptionReply,
    PumpState,
    StagePrescription,
    StatusReply,
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


def log(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    records = list(p.log_entries(args.first))
    last = p.last_log_page
    lost = {"clinical_lost": 0, "link_lost": 0}
    if last is not None:
        lost = {"clinical_lost": last.clinical_lost, "link_lost": last.link_lost}
    text = "\n".join(format_log_record(r) for r in records)
    summary = (
        f"{len(records)} entries; lost from the log since the pump was made: "
        f"{lost['clinical_lost']} clinical, {lost['link_lost']} link"
    )
    data = {"entries": [plain(r) for r in records], **lost}
    return data, f"{text}\n{summary}" if text else summary


def clock(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    now_s = p.clock()
    if args.set is None:
        return {"clock_s": now_s}, f"Pump clock {utc(now_s)} ({now_s} s)"
    new_s = int(time.time()) if args.set == "now" else args.set
    checks.check_clock(p.limits(), new_s)
    screen = Screen("Setting the pump clock")
    screen.row("Pump clock", utc(now_s), utc(new_s))
    screen.notes.append("flex schedules follow the pump clock's time of day (UTC)")
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
            raise NothingToDo("that is the prescription in force already: nothing to send")
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
    return plain(reply), delivery_text("Bolus", reply)


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
        f"{checks.ml(volume)} ({what}) at {checks.ml(limits.max_rate_nl_per_day)}/day, "
        f"{minutes:.0f} min",
    )
    screen.notes.append("then the pump is stopped again")
    ui.confirmation.confirm(screen)
    reply = p.prime(0 if args.volume_nl is None else args.volume_nl)
    return plain(reply), delivery_text("Priming", reply)


def patient_bolus(p: Programmer, args: argparse.Namespace, ui: Ui) -> Result:
    reply = p.patient_bolus()
    return plain(reply), delivery_text("Patient bolus", reply)


def delivery_text(what: str, reply: Any) -> str:
    return (
        f"{what}: {checks.ml(reply.volume_nl)} at {checks.ml(reply.rate_nl_per_day)}/day "
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
        raise WouldBeRefused("the pump is already stopped: nothing to stop")
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
    request = refill_prescription(before, now, args, ui, limits)
    staged = None if request is None else p.stage(request)
    screen = Screen("Refill: withdraw what is left, then fill", ("now", "after"))
    state_row(screen, now.state, state_after_refill(now.state, bool(now.basal_on)))
    expected_nl = now.reservoir_ul * 1_000
    measured = "not measured (the pump's figure is used)"
    if args.measured_nl is not None:
        measured = f"{checks.ml(args.measured_nl)} measured"
    screen.row(
        "Reservoir", f"{checks.ml(expected_nl)} expected; {measured}", checks.ml(args.volume_nl)
    )
    screen.row(
        "Drug",
        f"{now.concentration_ug_per_ml} ug/mL",
        f"{args.drug} {new_conc} ug/mL",
    )
    if staged is not None:
        prescription_rows(screen, before, staged, now.concentration_ug_per_ml, new_conc)
    elif before.mode != Mode.NONE:
        prescription_rows(screen, before, before, now.concentration_ug_per_ml, new_conc)
        screen.notes.append("doses unchanged; rates follow the concentration")
    if request is not None and before.mode == Mode.FLEX and getattr(args, "flex_notes", None):
        screen.notes += args.flex_notes
    ui.confirmation.confirm(screen)
    if args.measured_nl is not None:
        difference = args.measured_nl - expected_nl
        if abs(difference) > limits.refill_discrepancy_nl:
            ui.confirmation.confirm_again(
                f"the measured residual differs from the expected by "
                f"{checks.ml(abs(difference))} (more than "
                f"{checks.ml(limits.refill_discrepancy_nl)}): drug may have gone into the "
                "pocket instead of the pump, or the catheter may be leaking or blocked",
                "Refill anyway?",
                args.accept_discrepancy,
                "--accept-discrepancy",
            )
    digest = NO_DIGEST if staged is None else staged.digest
    reply = p.refill_staged(args.volume_nl, new_conc, digest, args.measured_nl, args.drug)
    text = (
        f"Refilled: expected {checks.ml(reply.expected_nl)} left, measured "
        f"{checks.ml(reply.measured_nl)} (difference {reply.discrepancy_nl / 1e6:+.3f} mL); "
        f"{state_name(reply.state)}"
    )
    return plain(reply), text


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
    "log": log,
    "clock": clock,
}

# Who may run what: anything else needs the clinician role.
PATIENT_COMMANDS = frozenset({"hello", "status", "patient-bolus"})
READ_ONLY_COMMANDS = frozenset({"hello", "status", "prescription", "alarms", "log", "clock"})
CHANGING_COMMANDS = frozenset(
    {"set-dose", "flex", "patient-limits", "low-reservoir-alarm", "bolus", "prime", "stop",
     "start", "refill", "clock"}
)  # fmt: skip
