"""How the programmer shows a pump to a person, and to a script (JSON)."""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime
from typing import Any

from protocol import (
    AlarmFlags,
    AlarmList,
    HelloReply,
    LogRecord,
    Mode,
    PrescriptionReply,
    Staged,
    StatusReply,
)


def plain(value: Any) -> Any:
    """Messages and their fields as JSON-ready data: enums by name, bytes as hex."""
    if isinstance(value, AlarmFlags):
        return alarm_names(value)
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def alarm_names(alarms: AlarmFlags) -> list[str]:
    return [flag.name.lower() for flag in AlarmFlags if flag and flag in alarms and flag.name]


def format_identity(hello: HelloReply) -> str:
    return (
        f"Pump       {hello.model}  serial {hello.serial_number}  "
        f"firmware {hello.firmware_version}  protocol v{hello.protocol_version}"
    )


def format_clock(clock_s: int) -> str:
    try:
        when = datetime.fromtimestamp(clock_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        when = "out of range"
    return f"{when} ({clock_s} s)"


def format_status(status: StatusReply) -> str:
    alarms = ", ".join(alarm_names(status.alarms)) or "none"
    silenced = alarm_names(status.silenced)
    if silenced:
        alarms += f" (silenced: {', '.join(silenced)})"
    return "\n".join(
        [
            f"State      {status.state.name.lower()} ({status.mode.name.lower()})",
            f"Alarms     {alarms}",
            f"Dose       {status.dose_ug_per_day} ug/day"
            f"  ({status.rate_nl_per_day / 1000:.3f} uL/day)",
            f"Flow now   {status.flow_nl_per_day / 1000:.3f} uL/day"
            f" at {status.temperature_mc / 1000:.1f} C",
            f"Drug       {status.concentration_ug_per_ml} ug/mL",
            f"Reservoir  {status.reservoir_ul / 1000:.3f} mL",
            f"Infused    {status.infused_ug} ug",
            f"Battery    {status.battery_ppm / 10_000:.1f} %",
            f"Pump clock {format_clock(status.clock_s)}",
        ]
    )


def prescription_lines(p: PrescriptionReply | Staged) -> list[tuple[str, str]]:
    if p.mode == Mode.NONE:
        basal = "none programmed"
    elif p.mode == Mode.CONTINUOUS:
        basal = f"continuous {p.steps[0].dose_ug_per_day} ug/day"
    else:
        basal = "flex " + ", ".join(
            f"{s.start_s // 3600:02d}:{s.start_s % 3600 // 60:02d} {s.dose_ug_per_day}"
            for s in p.steps
        )
    patient = (
        f"{p.patient_dose_ug} ug over {p.patient_duration_s} s, lockout {p.patient_lockout_s} s, "
        f"{p.patient_max_per_day}/day"
        if p.patient_dose_ug
        else "not permitted"
    )
    return [
        ("Basal", basal),
        ("Patient bolus", patient),
        ("Low-reservoir alarm", f"{p.low_reservoir_ul / 1000:.3f} mL"),
    ]


def format_prescription(p: PrescriptionReply) -> str:
    return "\n".join(f"{label:<20} {value}" for label, value in prescription_lines(p))


def format_change(before: PrescriptionReply, after: Staged) -> str:
    """The side-by-side confirm screen: what is in force, and what was staged."""
    rows = [("", "in force", "staged")]
    for (label, old), (_, new) in zip(
        prescription_lines(before), prescription_lines(after), strict=True
    ):
        rows.append((label, old, new + ("" if old == new else "   <- changed")))
    width = max(len(r[1]) for r in rows) + 2
    return "\n".join(f"{label:<20} {old:<{width}} {new}" for label, old, new in rows)


def format_alarms(reply: AlarmList) -> str:
    if not reply.alarms:
        return "No active alarms"
    return "\n".join(
        f"{a.alarm.name.lower():<16} since {a.raised_s} s{'  (silenced)' if a.silenced else ''}"
        for a in reply.alarms
    )


def format_log_record(record: LogRecord) -> str:
    return f"{record.index:>6}  {record.t_s:>12}  {record.kind:<24} {record.detail}"
