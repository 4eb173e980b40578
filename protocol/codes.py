"""Enumerations carried inside message payloads."""

from enum import IntEnum, IntFlag


class PumpState(IntEnum):
    STOPPED = 0
    INFUSING = 1
    EMPTY = 2  # the reservoir reached its empty threshold: delivery stopped
    BOLUS = 3
    PRIMING = 4
    SUSPENDED = 5  # motor stall (MRI, occlusion): delivery suspended
    END_OF_SERVICE = 6


class Mode(IntEnum):
    NONE = 0  # never programmed
    CONTINUOUS = 1
    FLEX = 2


class AlarmCode(IntEnum):
    LOW_RESERVOIR = 0
    EMPTY_RESERVOIR = 1
    BATTERY_ERI = 2
    END_OF_SERVICE = 3
    MOTOR_STALL = 4
    OVER_INFUSION = 5

    @property
    def flag(self) -> "AlarmFlags":
        return AlarmFlags(1 << self.value)


class AlarmFlags(IntFlag):
    """A set of alarms: bit n is ``AlarmCode`` n."""

    NONE = 0
    LOW_RESERVOIR = 1 << 0
    EMPTY_RESERVOIR = 1 << 1
    BATTERY_ERI = 1 << 2
    END_OF_SERVICE = 1 << 3
    MOTOR_STALL = 1 << 4
    OVER_INFUSION = 1 << 5


class LogClass(IntEnum):
    """Which ring an event-log record lives in: link traffic never evicts clinical records."""

    CLINICAL = 0
    LINK = 1


class OutcomeStatus(IntEnum):
    """What the pump remembers of a changing request of an ended session (GET_OUTCOME)."""

    NOT_RECEIVED = 0  # nothing was executed under that counter, and never will be
    DONE = 1  # executed; the reply it was sent is attached
    NOT_DONE = 2  # refused; the signed refusal it was sent is attached
    UNKNOWN = 3  # forgotten, another role's, or a different frame under that counter


STOP_CONFIRMATION = 0x53544F50  # ASCII "STOP": no single corrupted bit can confirm a stop
NOT_MEASURED = 0xFFFF_FFFF
NO_DIGEST = bytes(16)
