"""What a change will do, side by side with what is now: the screen a clinician confirms.

Every changing command shows one: the pump's state now and after (a programmed stopped pump
stays stopped unless told to start), and for a prescription every step's dose and rate at
the concentration it will run at. What is shown is what the pump read back, never what the
programmer meant to send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import zip_longest

from programmer.checks import duration, ml, rate_nl_per_day
from protocol import Mode, PrescriptionFields, PumpState, Staged

CHANGED = "<- changed"


@dataclass
class Screen:
    title: str
    columns: tuple[str, str] = ("now", "after")
    rows: list[tuple[str, str, str | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def row(self, label: str, now: str, after: str) -> None:
        self.rows.append((label, now, after))

    def line(self, label: str, text: str) -> None:
        """A fact across both columns (a measurement, not a change)."""
        self.rows.append((label, text, None))

    def render(self) -> str:
        table: list[tuple[str, str, str | None]] = [("", *self.columns), *self.rows]
        width = max(len(now) for _, now, after in table if after is not None) + 2
        lines = [self.title]
        for index, (label, now, after) in enumerate(table):
            if after is None:
                lines.append(f"  {label:<20} {now}".rstrip())
                continue
            mark = f"   {CHANGED}" if index and now != after and label else ""
            lines.append(f"  {label:<20} {now:<{width}} {after}{mark}".rstrip())
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  WARNING: {warning}" for warning in self.warnings]
        return "\n".join(lines)


def state_name(state: PumpState) -> str:
    return state.name.lower().replace("_", " ")


def utc(clock_s: int) -> str:
    try:
        return datetime.fromtimestamp(clock_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{clock_s} s (out of range)"


def time_of_day(start_s: int) -> str:
    return f"{start_s // 3600:02d}:{start_s % 3600 // 60:02d} UTC"


def basal_lines(p: PrescriptionFields | Staged, concentration: int) -> list[str]:
    """One line a step, with its rate at ``concentration``: `08:00 UTC 300 ug/day (0.6 mL/day)`."""
    if p.mode == Mode.NONE:
        return ["none programmed"]

    def dose(value: int) -> str:
        if not concentration:
            return f"{value} ug/day"
        return f"{value} ug/day ({ml(rate_nl_per_day(value, concentration))}/day)"

    if p.mode == Mode.CONTINUOUS:
        return [f"continuous {dose(p.steps[0].dose_ug_per_day)}"]
    return [f"flex {time_of_day(s.start_s)} {dose(s.dose_ug_per_day)}" for s in p.steps]


def _steps_by_time(
    before: PrescriptionFields,
    after: PrescriptionFields | Staged,
    concentration_before: int,
    concentration_after: int,
) -> list[tuple[str | None, str | None]]:
    """Two schedules side by side, a row a start time: a step dropped, added or changed
    shows against the same time, never against whichever step has the same index."""
    old_lines = basal_lines(before, concentration_before)
    new_lines = basal_lines(after, concentration_after)
    old = dict(zip((s.start_s for s in before.steps), old_lines, strict=True))
    new = dict(zip((s.start_s for s in after.steps), new_lines, strict=True))
    return [(old.get(start), new.get(start)) for start in sorted(old.keys() | new.keys())]


def _total_text(p: PrescriptionFields | Staged) -> str:
    if p.mode == Mode.NONE:
        return "none"
    return f"{daily_total_ug(p):.2f}".rstrip("0").rstrip(".") + " ug/day"


def patient_line(p: PrescriptionFields | Staged) -> str:
    if not p.patient_dose_ug:
        return "not permitted"
    return (
        f"{p.patient_dose_ug} ug over {duration(p.patient_duration_s)}, lockout "
        f"{duration(p.patient_lockout_s)}, at most {p.patient_max_per_day} a day"
    )


def daily_total_ug(p: PrescriptionFields | Staged) -> float:
    """A schedule's dose over a whole day, each step weighted by how long it runs: what the
    dose-change cap compares (docs/protocol.md, section 9)."""
    steps = sorted(p.steps, key=lambda step: step.start_s)
    total = 0
    for index, step in enumerate(steps):
        ends_s = steps[index + 1].start_s if index + 1 < len(steps) else 86_400 + steps[0].start_s
        total += step.dose_ug_per_day * (ends_s - step.start_s)
    return total / 86_400


def prescription_rows(
    screen: Screen,
    before: PrescriptionFields,
    after: PrescriptionFields | Staged,
    concentration_before: int,
    concentration_after: int,
) -> None:
    if before.mode == after.mode == Mode.FLEX:
        pairs = _steps_by_time(before, after, concentration_before, concentration_after)
    else:
        pairs = list(
            zip_longest(
                basal_lines(before, concentration_before),
                basal_lines(after, concentration_after),
            )
        )
    for index, (old, new) in enumerate(pairs):
        screen.row("Basal" if index == 0 else " ", old or "", new or "(removed)")
    if Mode.FLEX in (before.mode, after.mode):
        screen.row("Daily total", _total_text(before), _total_text(after))
    screen.row("Patient bolus", patient_line(before), patient_line(after))
    screen.row(
        "Low-reservoir alarm",
        ml(before.low_reservoir_ul * 1_000),
        ml(after.low_reservoir_ul * 1_000),
    )


def state_row(screen: Screen, now: PumpState, after: PumpState) -> None:
    screen.row(
        "State",
        state_name(now),
        state_name(after) if after == now else f"{state_name(now)} -> {state_name(after)}",
    )


def state_after_commit(now: PumpState, start: bool) -> PumpState:
    return PumpState.INFUSING if start and now == PumpState.STOPPED else now


def state_after_refill(now: PumpState, basal_on: bool, volume_nl: int, empty_nl: int) -> PumpState:
    """An empty pump refilled resumes its basal if it was running; other states stay. A
    refill to the empty level or below leaves a delivering pump empty (a stopped one stays
    stopped, empty)."""
    if volume_nl <= empty_nl:
        return PumpState.STOPPED if now == PumpState.STOPPED else PumpState.EMPTY
    if now != PumpState.EMPTY:
        return now
    return PumpState.INFUSING if basal_on else PumpState.STOPPED
