"""How the programmer shows a pump to a person, and to a script (JSON)."""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime
from typing import Any

from programmer.checks import ml
from programmer.screens import basal_lines, patient_line
from protocol import (
    AlarmFlags,
    AlarmList,
    HelloReply,
    LogRecord,
    PrescriptionReply,
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


def format_status(status: StatusReply, catheter_volume_nl: int | None = None) -> str:
    alarms = ", ".join(alarm_names(status.alarms)) or "none"
    silenced = alarm_names(status.silenced)
    if silenced:
        alarms += f" (silenced: {', '.join(silenced)})"
    infused = f"{status.infused_ug} ug"
    if status.infused_ug == 0:
        dead = "dead space" if catheter_volume_nl is None else ml(catheter_volume_nl)
        infused += (
            f" (none has left the catheter tip yet: the catheter's {dead} fills first, by a "
            "priming bolus or the basal)"
        )
    lines = [
        f"State      {status.state.name.lower()} ({status.mode.name.lower()})",
        f"Alarms     {alarms}",
        f"Dose       {status.dose_ug_per_day} ug/day ({ml(status.rate_nl_per_day)}/day)",
        f"Flow now   {ml(status.flow_nl_per_day)}/day at {status.temperature_mc / 1000:.1f} C",
        f"Drug       {status.concentration_ug_per_ml} ug/mL",
        f"Reservoir  {status.reservoir_ul / 1000:.3f} mL",
        f"Infused    {infused}",
        f"Battery    {status.battery_ppm / 10_000:.1f} %",
        f"Pump clock {format_clock(status.clock_s)}",
    ]
    if status.patient_bolus_ends_s:
        lines.append(f"Patient bolus running until {format_clock(status.patient_bolus_ends_s)}")
    return "\n".join(lines)


def format_prescription(p: PrescriptionReply, concentration: int = 0) -> str:
    rows = [("Basal", line) for line in basal_lines(p, concentration)]
    rows += [("Patient bolus", patient_line(p))]
    rows += [("Low-reservoir alarm", ml(p.low_reservoir_ul * 1_000))]
    text = "\n".join(f"{label:<20} {value}" for label, value in rows)
    return text.replace("\nBasal ", "\n      ")


def format_alarms(reply: AlarmList) -> str:
    if not reply.alarms:
        return "No active alarms"
    return "\n".join(
        f"{a.alarm.name.lower():<16} since {format_clock(a.raised_s)}"
        f"{'  (silenced)' if a.silenced else ''}"
        for a in reply.alarms
    )


def format_log_record(record: LogRecord) -> str:
    try:
        when = datetime.fromtimestamp(record.t_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        when = f"{record.t_s} s (out of range)"
    return f"{record.index:>6}  {when}  {record.kind:<24} {record.detail}"
