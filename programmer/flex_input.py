"""Flex steps as a clinician types them: ``HH:MM=UG`` in the pump clock's zone, UTC.

A pump keeps its schedule in UTC (docs/protocol.md, section 7): ``08:00`` starts at 08:00 UTC
every day. ``08:00Z`` says so explicitly; with ``--local`` the times typed are local times of
this computer, converted to UTC (and both are shown). Steps typed out of order are sorted,
and the sorted order is shown. A daylight-saving change moves a UTC schedule by an hour
against local time: the programmer says so whenever it programs one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from protocol import WireStep

S_PER_DAY = 86_400
_STEP = re.compile(r"(\d{1,2}):(\d{2})(Z?)=(\d+)")
DST_WARNING = (
    "the schedule is kept in UTC: when daylight saving time begins or ends, every step "
    "moves by an hour against local time"
)


class FlexInputError(ValueError):
    """A step that is not ``HH:MM=UG_PER_DAY``, or two steps at one time."""


@dataclass(frozen=True, slots=True)
class TypedStep:
    """A step as typed: its time of day (seconds, UTC) and its dose."""

    start_s: int
    dose_ug_per_day: int
    typed: str  # HH:MM as the user gave it (local time with --local)


def parse_step(text: str) -> TypedStep:
    match = _STEP.fullmatch(text.strip())
    if match is None:
        raise FlexInputError(f"a flex step is HH:MM=UG_PER_DAY (UTC), not {text!r}")
    hours, minutes, _zulu, dose = match.groups()
    if int(hours) > 23 or int(minutes) > 59:
        raise FlexInputError(f"{hours}:{minutes} is not a time of day (00:00 to 23:59)")
    start_s = int(hours) * 3600 + int(minutes) * 60
    return TypedStep(start_s, int(dose), f"{int(hours):02d}:{minutes}")


def to_utc(steps: list[TypedStep], zone: tzinfo, on: datetime) -> list[TypedStep]:
    """Local times of day, as of the day ``on``, moved to UTC."""
    moved = []
    for step in steps:
        local = datetime(on.year, on.month, on.day, tzinfo=zone) + timedelta(seconds=step.start_s)
        utc = local.astimezone(UTC)
        start_s = (utc.hour * 3600 + utc.minute * 60) % S_PER_DAY
        moved.append(TypedStep(start_s, step.dose_ug_per_day, step.typed))
    return moved


@dataclass(frozen=True, slots=True)
class Schedule:
    steps: tuple[WireStep, ...]
    notes: tuple[str, ...]  # what was done to what was typed, for the screen


def schedule(steps: list[TypedStep], *, local_zone: tzinfo | None, on: datetime) -> Schedule:
    """The wire's steps, sorted by UTC time, with notes of every conversion made."""
    notes: list[str] = []
    if local_zone is not None:
        converted = to_utc(steps, local_zone, on)
        notes.append(
            "local times converted to UTC: "
            + ", ".join(
                f"{s.typed} local = {fmt_time(c.start_s)} UTC"
                for s, c in zip(steps, converted, strict=True)
            )
        )
        steps = converted
    ordered = sorted(steps, key=lambda s: s.start_s)
    times = [s.start_s for s in ordered]
    if len(set(times)) != len(times):
        twice = sorted({fmt_time(t) for t in times if times.count(t) > 1})
        raise FlexInputError(f"two steps start at {', '.join(twice)} UTC")
    if ordered != steps:
        notes.append(
            "steps sorted by time: " + ", ".join(f"{fmt_time(s.start_s)} UTC" for s in ordered)
        )
    notes.append(DST_WARNING)
    wire = tuple(WireStep(s.start_s, s.dose_ug_per_day) for s in ordered)
    return Schedule(wire, tuple(notes))


def fmt_time(start_s: int) -> str:
    return f"{start_s // 3600:02d}:{start_s % 3600 // 60:02d}"
