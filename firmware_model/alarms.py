"""The alarms the pump can raise."""

from enum import Enum


class Alarm(Enum):
    # [S] programmable low-reservoir alarm, non-critical (domain.md, Alarms).
    LOW_RESERVOIR = "low_reservoir"
    # [U] critical; delivery stops (domain.md, Alarms).
    EMPTY_RESERVOIR = "empty_reservoir"

    @property
    def critical(self) -> bool:
        return self is Alarm.EMPTY_RESERVOIR
