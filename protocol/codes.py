"""Enumerations carried inside message payloads: the pump's state and its alarm bits."""

from enum import IntEnum, IntFlag


class PumpState(IntEnum):
    STOPPED = 0
    INFUSING = 1
    EMPTY = 2  # the reservoir reached its empty threshold: delivery stopped
    BOLUS = 3
    PRIMING = 4
    SUSPENDED = 5  # motor stall (MRI, occlusion): delivery suspended
    END_OF_SERVICE = 6


class AlarmFlags(IntFlag):
    NONE = 0
    LOW_RESERVOIR = 1 << 0
    EMPTY_RESERVOIR = 1 << 1
    BATTERY_ERI = 1 << 2
    END_OF_SERVICE = 1 << 3
    MOTOR_STALL = 1 << 4
    OVER_INFUSION = 1 << 5
