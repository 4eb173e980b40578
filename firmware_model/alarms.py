"""The alarms, their priorities, and the latching rules of the alarm panel.

An alarm is raised at the instant its condition becomes true. Acknowledging it silences it
(and is logged), but it clears only when its cause is gone: a silenced alarm whose cause
persists stays active. GPCA functional model [S]; IEC 60601-1-8 latching alarms.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Alarm(Enum):
    # Non-critical (single tone), delivery continues.
    LOW_RESERVOIR = "low_reservoir"  # [S] programmable volume
    BATTERY_ERI = "battery_eri"  # [S] elective replacement indicator
    # Critical (two-tone).
    EMPTY_RESERVOIR = "empty_reservoir"  # [U] delivery stops
    END_OF_SERVICE = "end_of_service"  # [S] 90 days after ERI; delivery stops
    MOTOR_STALL = "motor_stall"  # [S] MRI guidelines; delivery suspended
    # [S] GPCA: warns only; stopping baclofen abruptly is the greater danger [S boxed warning].
    OVER_INFUSION = "over_infusion"

    @property
    def critical(self) -> bool:
        return self not in (Alarm.LOW_RESERVOIR, Alarm.BATTERY_ERI)


@dataclass(slots=True)
class ActiveAlarm:
    raised_us: int
    raised_clock_us: int  # the pump clock then: a later clock setting does not move it
    silenced: bool = False


class AlarmPanel:
    """Which alarms are active, and whether each has been acknowledged."""

    def __init__(self) -> None:
        self.active: dict[Alarm, ActiveAlarm] = {}

    def set_condition(self, alarm: Alarm, condition: bool, t_us: int, clock_us: int) -> bool | None:
        """True when this raises the alarm, False when it clears it, None for no change."""
        if condition:
            if alarm in self.active:
                return None
            self.active[alarm] = ActiveAlarm(t_us, clock_us)
            return True
        if alarm in self.active:
            del self.active[alarm]
            return False
        return None

    def acknowledge(self, alarm: Alarm) -> bool:
        """Silence an active alarm; False when it is not active."""
        entry = self.active.get(alarm)
        if entry is None:
            return False
        entry.silenced = True
        return True

    @property
    def sounding(self) -> frozenset[Alarm]:
        return frozenset(a for a, entry in self.active.items() if not entry.silenced)
