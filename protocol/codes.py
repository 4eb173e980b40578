"""Enumerations carried inside message payloads: the pump's state and its alarm bits."""

from enum import IntEnum, IntFlag


class PumpState(IntEnum):
    STOPPED = 0
    INFUSING = 1
    ALARM = 2  # a critical alarm has stopped delivery


class AlarmFlags(IntFlag):
    NONE = 0
    LOW_RESERVOIR = 1 << 0
    EMPTY_RESERVOIR = 1 << 1
