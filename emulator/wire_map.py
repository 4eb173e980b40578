"""The one place where the pump model's words become the wire's codes, and back."""

from __future__ import annotations

from emulator.refusal import DeviceRefusal
from firmware_model import (
    Alarm,
    Continuous,
    Flex,
    FlexStep,
    PatientLimits,
    Prescription,
    PumpRefusal,
    Refusal,
    log_kinds,
)
from firmware_model import state_machine as sm
from firmware_model.prescription import MAX_FLEX_STEPS
from firmware_model.units import NL_PER_UL, S_PER_DAY, US_PER_S
from protocol import (
    AlarmCode,
    AlarmFlags,
    LogClass,
    MessageType,
    Mode,
    PrescriptionFields,
    PrescriptionReply,
    PumpState,
    Reason,
    StagePrescription,
    WireStep,
)

STATE_CODES: dict[str, PumpState] = {
    sm.STOPPED: PumpState.STOPPED,
    sm.INFUSING: PumpState.INFUSING,
    sm.EMPTY: PumpState.EMPTY,
    sm.BOLUS: PumpState.BOLUS,
    sm.PRIMING: PumpState.PRIMING,
    sm.SUSPENDED: PumpState.SUSPENDED,
    sm.END_OF_SERVICE: PumpState.END_OF_SERVICE,
}

ALARM_CODES: dict[Alarm, AlarmCode] = {
    Alarm.LOW_RESERVOIR: AlarmCode.LOW_RESERVOIR,
    Alarm.EMPTY_RESERVOIR: AlarmCode.EMPTY_RESERVOIR,
    Alarm.BATTERY_ERI: AlarmCode.BATTERY_ERI,
    Alarm.END_OF_SERVICE: AlarmCode.END_OF_SERVICE,
    Alarm.MOTOR_STALL: AlarmCode.MOTOR_STALL,
    Alarm.OVER_INFUSION: AlarmCode.OVER_INFUSION,
}
_ALARMS_BY_CODE = {code: alarm for alarm, code in ALARM_CODES.items()}
_CODES_BY_NAME = {alarm.value: code for alarm, code in ALARM_CODES.items()}

LOG_CLASSES: dict[log_kinds.LogClass, LogClass] = {
    log_kinds.LogClass.CLINICAL: LogClass.CLINICAL,
    log_kinds.LogClass.LINK: LogClass.LINK,
}

MODE_CODES = {"none": Mode.NONE, "continuous": Mode.CONTINUOUS, "flex": Mode.FLEX}

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


# The pump's names for what a request does, as its event log writes them: the model's own
# operation where there is one, else the message type in lower case.
_OPERATIONS: dict[MessageType, str] = {
    MessageType.STAGE_PRESCRIPTION: "stage",
    MessageType.COMMIT_PRESCRIPTION: "program",
    MessageType.BOLUS: "bolus",
    MessageType.PRIME: "prime",
    MessageType.PATIENT_BOLUS: "patient_bolus",
    MessageType.STOP: "stop",
    MessageType.START: "start",
    MessageType.REFILL: "refill",
    MessageType.ACK_ALARM: "acknowledge",
    MessageType.SET_CLOCK: "set_clock",
}


def operation_name(msg_type: int) -> str:
    try:
        known = MessageType(msg_type)
    except ValueError:
        return f"type_0x{msg_type:02x}"
    return _OPERATIONS.get(known, known.name.lower())


ALARM_BITS: dict[Alarm, int] = {alarm: int(code.flag) for alarm, code in ALARM_CODES.items()}
_FLAGS_OF_BITS: dict[int, AlarmFlags] = {0: AlarmFlags.NONE}


def alarm_flags_of(bits: int) -> AlarmFlags:
    """``AlarmFlags`` for bits made with ``ALARM_BITS``, each combination made once."""
    flags = _FLAGS_OF_BITS.get(bits)
    if flags is None:
        flags = _FLAGS_OF_BITS[bits] = AlarmFlags(bits)
    return flags


def alarm_flags(alarms: frozenset[Alarm]) -> AlarmFlags:
    flags = AlarmFlags.NONE
    for alarm in alarms:
        flags |= ALARM_CODES[alarm].flag
    return flags


def alarm_from_code(code: AlarmCode) -> Alarm:
    return _ALARMS_BY_CODE[code]


def alarm_code_by_name(name: str) -> AlarmCode:
    return _CODES_BY_NAME[name]


def mode_code(mode: str) -> Mode:
    return MODE_CODES[mode]


def refusal_reason(refusal: PumpRefusal) -> Reason:
    return REFUSAL_REASONS[refusal.reason]


def prescription_from_wire(message: PrescriptionFields) -> Prescription:
    """What a STAGE_PRESCRIPTION asks for, in the model's terms; structure checked here."""
    steps = message.steps
    if message.mode == Mode.CONTINUOUS:
        if len(steps) != 1 or steps[0].start_s != 0:
            raise DeviceRefusal(
                Reason.VALUE_OUT_OF_RANGE,
                f"continuous takes exactly 1 step, at 00:00; got {len(steps)}"
                + (f" starting at {steps[0].start_s} s" if steps else ""),
            )
        basal: Continuous | Flex = Continuous(steps[0].dose_ug_per_day)
    elif message.mode == Mode.FLEX:
        if not 1 <= len(steps) <= MAX_FLEX_STEPS:
            raise DeviceRefusal(
                Reason.VALUE_OUT_OF_RANGE,
                f"flex has {len(steps)} steps, outside 1..{MAX_FLEX_STEPS}",
            )
        late = [step.start_s for step in steps if step.start_s >= S_PER_DAY]
        if late:
            raise DeviceRefusal(
                Reason.VALUE_OUT_OF_RANGE,
                f"flex step start {late[0]} s outside 0..{S_PER_DAY - 1} s (UTC time of day)",
            )
        basal = Flex(tuple(FlexStep(step.start_s, step.dose_ug_per_day) for step in steps))
    else:
        raise DeviceRefusal(
            Reason.VALUE_OUT_OF_RANGE, f"mode {int(message.mode)} outside 1..2 (continuous, flex)"
        )
    patient = None
    if not message.patient_dose_ug and (
        message.patient_duration_s or message.patient_lockout_s or message.patient_max_per_day
    ):
        raise DeviceRefusal(
            Reason.VALUE_OUT_OF_RANGE,
            "patient_dose_ug 0 (no patient boluses) needs the other patient fields 0 too",
        )
    if message.patient_dose_ug:
        patient = PatientLimits(
            message.patient_dose_ug,
            message.patient_duration_s * US_PER_S,
            message.patient_lockout_s * US_PER_S,
            message.patient_max_per_day,
        )
    return Prescription(basal, patient, message.low_reservoir_ul * NL_PER_UL)


def stage_message(prescription: Prescription | None, low_reservoir_nl: int) -> StagePrescription:
    """A prescription as the wire carries it (for ``None``: nothing programmed)."""
    if prescription is None:
        return StagePrescription(Mode.NONE, (), 0, 0, 0, 0, low_reservoir_nl // NL_PER_UL)
    basal = prescription.basal
    if isinstance(basal, Flex):
        mode = Mode.FLEX
        steps = tuple(WireStep(s.start_s, s.dose_ug_per_day) for s in basal.steps)
    else:
        mode, steps = Mode.CONTINUOUS, (WireStep(0, basal.dose_ug_per_day),)
    patient = prescription.patient or PatientLimits(0, 0, 0, 0)
    return StagePrescription(
        mode,
        steps,
        patient.dose_ug,
        patient.duration_us // US_PER_S,
        patient.lockout_us // US_PER_S,
        patient.max_per_day,
        prescription.low_reservoir_nl // NL_PER_UL,
    )


def prescription_reply(
    prescription: Prescription | None, low_reservoir_nl: int
) -> PrescriptionReply:
    s = stage_message(prescription, low_reservoir_nl)
    return PrescriptionReply(
        s.mode,
        s.steps,
        s.patient_dose_ug,
        s.patient_duration_s,
        s.patient_lockout_s,
        s.patient_max_per_day,
        s.low_reservoir_ul,
    )
