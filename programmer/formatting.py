"""How the programmer shows a pump to a person, and to a script (JSON)."""

from __future__ import annotations

from typing import Any

from protocol import AlarmFlags, HelloReply, SetDoseReply, StatusReply


def alarm_names(alarms: AlarmFlags) -> list[str]:
    return [flag.name.lower() for flag in AlarmFlags if flag and flag in alarms and flag.name]


def identity_dict(hello: HelloReply) -> dict[str, Any]:
    return {
        "model": hello.model,
        "serial_number": hello.serial_number,
        "firmware_version": hello.firmware_version,
        "protocol_version": hello.protocol_version,
    }


def status_dict(status: StatusReply) -> dict[str, Any]:
    return {
        "state": status.state.name.lower(),
        "alarms": alarm_names(status.alarms),
        "dose_ug_per_day": status.dose_ug_per_day,
        "rate_nl_per_day": status.rate_nl_per_day,
        "concentration_ug_per_ml": status.concentration_ug_per_ml,
        "reservoir_ul": status.reservoir_ul,
        "infused_ug": status.infused_ug,
        "clock_s": status.clock_s,
    }


def format_identity(hello: HelloReply) -> str:
    return (
        f"Pump       {hello.model}  serial {hello.serial_number}  "
        f"firmware {hello.firmware_version}  protocol v{hello.protocol_version}"
    )


def format_duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}"


def format_status(status: StatusReply) -> str:
    alarms = ", ".join(alarm_names(status.alarms)) or "none"
    return "\n".join(
        [
            f"State      {status.state.name.lower()}",
            f"Alarms     {alarms}",
            f"Dose       {status.dose_ug_per_day} ug/day"
            f"  ({status.rate_nl_per_day / 1000:.3f} uL/day)",
            f"Drug       {status.concentration_ug_per_ml} ug/mL",
            f"Reservoir  {status.reservoir_ul / 1000:.3f} mL",
            f"Infused    {status.infused_ug} ug",
            f"Pump clock {format_duration(status.clock_s)}",
        ]
    )


def format_set_dose(reply: SetDoseReply) -> str:
    return (
        f"Dose set to {reply.dose_ug_per_day} ug/day "
        f"({reply.rate_nl_per_day / 1000:.3f} uL/day), continuous"
    )
