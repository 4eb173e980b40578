"""The one place where the pump model's words become the wire's codes."""

from firmware_model import Alarm, PumpRefusal, Refusal
from firmware_model import state_machine as sm
from protocol import AlarmFlags, PumpState, Reason

STATE_CODES: dict[str, PumpState] = {
    sm.STOPPED: PumpState.STOPPED,
    sm.INFUSING: PumpState.INFUSING,
    sm.EMPTY: PumpState.EMPTY,
    sm.BOLUS: PumpState.BOLUS,
    sm.PRIMING: PumpState.PRIMING,
    sm.SUSPENDED: PumpState.SUSPENDED,
    sm.END_OF_SERVICE: PumpState.END_OF_SERVICE,
}

ALARM_BITS: dict[Alarm, AlarmFlags] = {
    Alarm.LOW_RESERVOIR: AlarmFlags.LOW_RESERVOIR,
    Alarm.EMPTY_RESERVOIR: AlarmFlags.EMPTY_RESERVOIR,
    Alarm.BATTERY_ERI: AlarmFlags.BATTERY_ERI,
    Alarm.END_OF_SERVICE: AlarmFlags.END_OF_SERVICE,
    Alarm.MOTOR_STALL: AlarmFlags.MOTOR_STALL,
    Alarm.OVER_INFUSION: AlarmFlags.OVER_INFUSION,
}

REFUSAL_REASONS: dict[Refusal, Reason] = {
    Refusal.OUT_OF_RANGE: Reason.VALUE_OUT_OF_RANGE,
    Refusal.WRONG_STATE: Reason.WRONG_STATE,
    Refusal.CONFIRMATION_REQUIRED: Reason.CONFIRMATION_REQUIRED,
    Refusal.NO_DRUG: Reason.NO_DRUG,
    Refusal.DRUG_LIMIT: Reason.DRUG_LIMIT,
    Refusal.DOSE_CHANGE_LIMIT: Reason.DOSE_CHANGE_LIMIT,
    Refusal.DOSE_REENTRY_REQUIRED: Reason.DOSE_REENTRY_REQUIRED,
    Refusal.NOT_PERMITTED: Reason.NOT_PERMITTED,
    Refusal.LOCKOUT: Reason.LOCKOUT,
    Refusal.DAILY_LIMIT: Reason.DAILY_LIMIT,
    Refusal.NO_SUCH_ALARM: Reason.NO_SUCH_ALARM,
}


def alarm_flags(alarms: frozenset[Alarm]) -> AlarmFlags:
    flags = AlarmFlags.NONE
    for alarm in alarms:
        flags |= ALARM_BITS[alarm]
    return flags


def refusal_reason(refusal: PumpRefusal) -> Reason:
    return REFUSAL_REASONS[refusal.reason]
