"""The one place where the pump model's words become the wire's codes."""

from firmware_model import Alarm, PumpRefusal, Refusal
from firmware_model import state_machine as sm
from protocol import AlarmFlags, PumpState, Reason

STATE_CODES: dict[str, PumpState] = {
    sm.STOPPED: PumpState.STOPPED,
    sm.INFUSING: PumpState.INFUSING,
    sm.ALARM: PumpState.ALARM,
}

ALARM_BITS: dict[Alarm, AlarmFlags] = {
    Alarm.LOW_RESERVOIR: AlarmFlags.LOW_RESERVOIR,
    Alarm.EMPTY_RESERVOIR: AlarmFlags.EMPTY_RESERVOIR,
}

REFUSAL_REASONS: dict[Refusal, Reason] = {
    Refusal.OUT_OF_RANGE: Reason.VALUE_OUT_OF_RANGE,
    Refusal.WRONG_STATE: Reason.WRONG_STATE,
    Refusal.CONFIRMATION_REQUIRED: Reason.CONFIRMATION_REQUIRED,
    Refusal.NO_DRUG: Reason.WRONG_STATE,
}


def alarm_flags(alarms: frozenset[Alarm]) -> AlarmFlags:
    flags = AlarmFlags.NONE
    for alarm in alarms:
        flags |= ALARM_BITS[alarm]
    return flags


def refusal_reason(refusal: PumpRefusal) -> Reason:
    return REFUSAL_REASONS[refusal.reason]
