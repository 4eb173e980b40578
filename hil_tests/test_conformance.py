"""Every reason code a pump may send (docs/protocol.md, section 8), provoked on the wire, and
every message type exchanged.

Each test is marked with what it must receive: ``provokes`` (reason codes) and ``exchanges``
(message types). The conformance recorder (hil_tests/conformance.py) fails the run when a test
passed without them really arriving, and checks that each refusal came signed or unsigned as
the document says. The table in docs/hil.md names these tests; tests/ keeps it in step.

Refusals change nothing: tests that could change therapy were the pump to accept what it must
refuse are built so that even then nothing would change (a stop without its confirmation word,
a commit with nothing staged), or are marked ``destructive``.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hil_tests.emulator_process import EmulatorProcess
from hil_tests.frames import raw_request_frame, request_frame, resealed, with_bit_flipped
from hil_tests.link_log import LinkLog
from hil_tests.plugin import DeviceUnderTest
from hil_tests.wire_helpers import (
    inactive_alarm,
    refusal,
    retagged,
    switch_role,
    therapy,
)
from programmer import DeviceRefused, Programmer
from programmer.client import continuous
from protocol import (
    NO_DIGEST,
    STOP_CONFIRMATION,
    AckAlarm,
    AlarmCode,
    AlarmNotification,
    CommitPrescription,
    ErrorReply,
    Flags,
    Frame,
    GetOutcome,
    GetPrescription,
    GetStatus,
    Hello,
    HelloReply,
    Keyring,
    LimitsReply,
    LogBurstPage,
    Mode,
    OutcomeReply,
    OutcomeStatus,
    PatientBolus,
    PrescriptionReply,
    PumpState,
    ReadLogPages,
    Reason,
    Role,
    SessionAuth,
    SessionChallenge,
    SessionOpen,
    Start,
    StatusReply,
    Stop,
    as_stage_request,
    encode_frame,
    encode_payload,
)
from protocol.frame import HEADER, HEADER_LEN, MAX_FRAME_LEN, MAX_PAYLOAD_LEN
from protocol.messages import MessageType, decode_attached_reply
from protocol.stuffing import END_BYTE
from rig_control import ControlClient, ControlError

OPERATOR = "hil-conformance"
STATUS = int(MessageType.GET_STATUS)
UNKNOWN_TYPE = 0x6E  # defined in neither direction (docs/protocol.md, section 6)
STOPPABLE = {PumpState.INFUSING, PumpState.BOLUS, PumpState.PRIMING, PumpState.SUSPENDED}


def _refused(reply: ErrorReply, reason: Reason, request_type: int) -> None:
    assert reply.reason is reason, reply
    assert reply.request_type == request_type, reply


# -- frame level: nothing in the frame can be trusted, so the answer is numbered 0 ----------


@pytest.mark.provokes("BAD_CRC")
def test_bad_crc(link: Programmer) -> None:
    frame = request_frame(901, Hello())
    link.link.send_raw(with_bit_flipped(frame, body_offset=HEADER_LEN))
    _refused(refusal(link.link, 0), Reason.BAD_CRC, 0)


@pytest.mark.provokes("BAD_FRAMING")
def test_bad_framing(link: Programmer) -> None:
    # 0xDB escapes only 0xDC and 0xDD (RFC 1055); anything else breaks the frame.
    link.link.send_raw(END_BYTE + b"\x02\x00\x03\x86\x10\xdb\x41\x00\x00\x12\x34" + END_BYTE)
    _refused(refusal(link.link, 0), Reason.BAD_FRAMING, 0)


@pytest.mark.provokes("FRAME_TOO_SHORT")
def test_frame_too_short(link: Programmer) -> None:
    link.link.send_raw(END_BYTE + b"\x02\x00\x03\x87" + END_BYTE)  # 4 bytes of 9
    _refused(refusal(link.link, 0), Reason.FRAME_TOO_SHORT, 0)


@pytest.mark.provokes("FRAME_TOO_LONG")
@pytest.mark.parametrize("size", [MAX_FRAME_LEN + 1, 2 * MAX_FRAME_LEN + 76])
def test_frame_too_long(link: Programmer, size: int) -> None:
    # 513 bytes between delimiters; or more than the 1024 stuffed bytes a receiver holds.
    link.link.send_raw(END_BYTE + bytes(size) + END_BYTE)
    _refused(refusal(link.link, 0), Reason.FRAME_TOO_LONG, 0)
    assert isinstance(link.hello(), HelloReply)  # it skipped to the next delimiter


@pytest.mark.provokes("UNSUPPORTED_VERSION")
@pytest.mark.parametrize(
    ("version", "msg_type", "payload"),
    [
        pytest.param(3, STATUS, b"", id="header-version-3"),
        pytest.param(1, STATUS, b"", id="version-1-status"),
        pytest.param(1, int(MessageType.HELLO), b"\x03\x03", id="hello-no-common-version"),
    ],
)
def test_unsupported_version(link: Programmer, version: int, msg_type: int, payload: bytes) -> None:
    frame = Frame(int(Flags.NONE), 904, msg_type, payload, version=version)
    link.link.send_raw(encode_frame(frame))
    # Its CRC passed, so the header is read: the refusal echoes seq and type.
    _refused(refusal(link.link, 904), Reason.UNSUPPORTED_VERSION, msg_type)


@pytest.mark.provokes("BAD_LENGTH")
@pytest.mark.parametrize(
    ("length", "payload"),
    [
        pytest.param(4, b"", id="length-4-payload-0"),
        pytest.param(MAX_PAYLOAD_LEN + 1, bytes(MAX_PAYLOAD_LEN + 1), id="above-487"),
    ],
)
def test_bad_length(link: Programmer, length: int, payload: bytes) -> None:
    link.link.send_raw(resealed(HEADER.pack(2, 0, 906, STATUS, length) + payload))
    _refused(refusal(link.link, 906), Reason.BAD_LENGTH, STATUS)


# -- message level ----------------------------------------------------------------------------


@pytest.mark.provokes("UNKNOWN_MESSAGE")
def test_unknown_message_without_a_session(link: Programmer) -> None:
    link.link.send_raw(raw_request_frame(907, UNKNOWN_TYPE, b"\x01\x02"))
    _refused(refusal(link.link, 907), Reason.UNKNOWN_MESSAGE, UNKNOWN_TYPE)


@pytest.mark.provokes("UNKNOWN_MESSAGE")
def test_unknown_message_in_a_session(pump: Programmer) -> None:
    outgoing = pump.link.connection.prepare_raw(UNKNOWN_TYPE, b"")
    pump.link.send_raw(outgoing.data)
    _refused(refusal(pump.link, outgoing.seq), Reason.UNKNOWN_MESSAGE, UNKNOWN_TYPE)


@pytest.mark.provokes("BAD_PAYLOAD")
def test_bad_payload(link: Programmer) -> None:
    hello = int(MessageType.HELLO)
    link.link.send_raw(raw_request_frame(908, hello, b"\x01\x02\x03"))
    _refused(refusal(link.link, 908), Reason.BAD_PAYLOAD, hello)
    link.link.send_raw(raw_request_frame(0, hello, encode_payload(Hello())))  # seq 0: reserved
    _refused(refusal(link.link, 0), Reason.BAD_PAYLOAD, hello)


@pytest.mark.provokes("BAD_PAYLOAD")
def test_bad_payload_in_a_session(pump: Programmer) -> None:
    before = therapy(pump)
    outgoing = pump.link.connection.prepare_raw(STATUS, b"\x00")  # GET_STATUS is empty
    pump.link.send_raw(outgoing.data)
    _refused(refusal(pump.link, outgoing.seq), Reason.BAD_PAYLOAD, STATUS)
    assert therapy(pump) == before


@pytest.mark.provokes("VALUE_OUT_OF_RANGE")
def test_value_out_of_range_before_a_session(link: Programmer) -> None:
    with pytest.raises(DeviceRefused) as refused:
        link.link.transact(SessionOpen(9, secrets.token_bytes(16), OPERATOR))  # roles are 1-3
    assert refused.value.reason is Reason.VALUE_OUT_OF_RANGE
    with pytest.raises(DeviceRefused) as refused:
        link.link.transact(Hello(min_version=2, max_version=1))
    assert refused.value.reason is Reason.VALUE_OUT_OF_RANGE


@pytest.mark.provokes("VALUE_OUT_OF_RANGE")
def test_value_out_of_range_in_a_session(pump: Programmer) -> None:
    with pytest.raises(DeviceRefused) as refused:
        pump.read_log(0, max_entries=0)
    assert refused.value.reason is Reason.VALUE_OUT_OF_RANGE
    assert refused.value.message  # it says what is allowed (docs/protocol.md, section 7)


# -- sessions ---------------------------------------------------------------------------------


@pytest.mark.provokes("NOT_AUTHENTICATED")
@pytest.mark.exchanges("ERROR")
def test_not_authenticated(link: Programmer) -> None:
    for request in (GetStatus(), Stop(0)):  # a stop, unsigned and unconfirmed: harmless
        with pytest.raises(DeviceRefused) as refused:
            link.link.transact(request)
        assert refused.value.reason is Reason.NOT_AUTHENTICATED


@pytest.mark.provokes("UNKNOWN_SESSION")
def test_unknown_session(pump: Programmer) -> None:
    outgoing = pump.link.connection.prepare(GetStatus())  # signed, kept back
    pump.link.close_session()
    pump.link.send_raw(outgoing.data)
    _refused(refusal(pump.link, outgoing.seq), Reason.UNKNOWN_SESSION, STATUS)


@pytest.mark.provokes("BAD_TAG")
def test_bad_tag(pump: Programmer) -> None:
    before = therapy(pump)
    outgoing = pump.link.connection.prepare(GetStatus())
    pump.link.send_raw(retagged(outgoing.data))
    _refused(refusal(pump.link, outgoing.seq), Reason.BAD_TAG, STATUS)
    assert therapy(pump) == before


@pytest.mark.provokes("REPLAYED")
def test_replayed(pump: Programmer) -> None:
    first = pump.link.connection.prepare(GetStatus())
    pump.link.send_raw(first.data)
    assert isinstance(pump.link.wait_for_reply(first.seq), StatusReply)
    # Another request under the counter that ran: within the window, not a copy.
    other = pump.link.connection.prepare_raw(int(MessageType.GET_CLOCK), b"", counter=first.counter)
    pump.link.send_raw(other.data)
    _refused(refusal(pump.link, other.seq), Reason.REPLAYED, int(MessageType.GET_CLOCK))


@pytest.mark.provokes("AUTH_FAILED")
def test_auth_failed(link: Programmer) -> None:
    assert link.identity is not None
    connection = link.link.connection
    wrong = Keyring.generate(link.identity.serial_number).keys[Role.CLINICIAN]
    opening = connection.begin_session(Role.CLINICIAN, wrong, link.identity.serial_number, OPERATOR)
    challenge = link.link.transact(opening)
    assert isinstance(challenge, SessionChallenge)
    with pytest.raises(DeviceRefused) as refused:
        link.link.transact(connection.answer_challenge(challenge))
    assert refused.value.reason is Reason.AUTH_FAILED
    connection.forget_session()


@pytest.mark.provokes("UNKNOWN_CHALLENGE")
def test_unknown_challenge(link: Programmer) -> None:
    # A session id is never 0 (docs/protocol.md, section 4): no challenge has it.
    with pytest.raises(DeviceRefused) as refused:
        link.link.transact(SessionAuth(0, bytes(16)))
    assert refused.value.reason is Reason.UNKNOWN_CHALLENGE


@pytest.mark.provokes("FORBIDDEN")
def test_forbidden(patient: Programmer) -> None:
    with pytest.raises(DeviceRefused) as refused:
        patient.link.transact(GetPrescription())
    assert refused.value.reason is Reason.FORBIDDEN
    assert isinstance(patient.status(), StatusReply)  # what a patient may do still works


def _write_key_file(path: Path, keyring: Keyring) -> None:
    """A key file as docs/protocol.md section 11 has it: private to its owner."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(keyring.to_plain(), handle)


@pytest.mark.emulator_only
@pytest.mark.provokes("NO_KEY")
@pytest.mark.timeout(150)  # a second emulator starts cold on a busy machine
def test_no_key(device: DeviceUnderTest, link_log: LinkLog, tmp_path: Path) -> None:
    if not device.emulated:
        pytest.skip("needs the emulator")
    serial = "EMUNOKEY1"
    keys = Keyring.generate(serial).keys
    without_patient = Keyring(serial, {r: k for r, k in keys.items() if r is not Role.PATIENT})
    _write_key_file(tmp_path / "keys.json", without_patient)  # EmulatorProcess's key file
    extra = ("--serial-number", serial, "--telemetry-session-cost", "0s")
    with (
        EmulatorProcess(tmp_path, extra_args=extra) as second,
        Programmer.open(
            second.port, session=False, trace=link_log.trace, timeout_s=device.reply_timeout_s
        ) as programmer,
    ):
        with pytest.raises(DeviceRefused) as refused:
            programmer.link.transact(SessionOpen(Role.PATIENT, secrets.token_bytes(16), OPERATOR))
        assert refused.value.reason is Reason.NO_KEY
        # The roles it has keys for are still open to their holders.
        opening = SessionOpen(Role.CLINICIAN, secrets.token_bytes(16), OPERATOR)
        assert isinstance(programmer.link.transact(opening), SessionChallenge)


@pytest.mark.emulator_only
@pytest.mark.needs_control
@pytest.mark.provokes("INTERNAL_ERROR")
def test_internal_error(pump: Programmer, rig: ControlClient) -> None:
    before = therapy(pump)
    try:
        rig.call("fail-next")  # the emulator's hook: the next request fails inside the pump
    except ControlError as exc:
        if exc.code == "unknown_verb":
            pytest.skip("this emulator has no fail-next control verb")
        raise
    try:
        with pytest.raises(DeviceRefused) as refused:
            pump.link.transact(GetStatus())
    finally:
        rig.call("fail-next", count=0)  # never left for the next test, whatever happened
    assert refused.value.reason is Reason.INTERNAL_ERROR
    assert therapy(pump) == before  # nothing was changed, and the next request is served


# -- application: the pump understood, and refused; nothing changed -------------------------


@pytest.mark.provokes("WRONG_STATE")
def test_wrong_state(pump: Programmer) -> None:
    before = therapy(pump)
    # A stopped pump cannot be stopped; anything else cannot be started. Either way no
    # accepted request would change what it does.
    stopped = before[1] is PumpState.STOPPED
    request = Stop(STOP_CONFIRMATION) if stopped else Start()
    with pytest.raises(DeviceRefused) as refused:
        pump.link.transact_changing(request)
    assert refused.value.reason is Reason.WRONG_STATE
    assert therapy(pump) == before


@pytest.mark.provokes("CONFIRMATION_REQUIRED")
def test_confirmation_required(pump: Programmer) -> None:
    before = therapy(pump)
    if before[1] not in STOPPABLE:
        pytest.skip(f"a {before[1].name} pump cannot be stopped at all")
    with pytest.raises(DeviceRefused) as refused:
        pump.stop(confirm_withdrawal_risk=False)
    assert refused.value.reason is Reason.CONFIRMATION_REQUIRED
    assert therapy(pump) == before


def _programmed(pump: Programmer) -> PrescriptionReply:
    current = pump.prescription()
    if current.mode is Mode.NONE:
        pytest.skip("nothing is programmed")
    if pump.status().state not in (PumpState.STOPPED, PumpState.INFUSING):
        pytest.skip("a prescription is staged only when stopped or infusing")
    return current


def _daily_total(prescription: PrescriptionReply) -> float:
    steps = prescription.steps
    ends = [step.start_s for step in steps[1:]] + [86_400 + steps[0].start_s]
    dose_s = sum(s.dose_ug_per_day * (end - s.start_s) for s, end in zip(steps, ends, strict=True))
    return dose_s / 86_400


@pytest.mark.provokes("DRUG_LIMIT")
def test_drug_limit(pump: Programmer) -> None:
    # The basal as it is, with patient boluses whose daily sum passes the drug's limit:
    # nothing else about it is wrong (their rate is the lowest a bolus may have).
    current = _programmed(pump)
    limits = pump.limits()
    drug = limits.drugs[0]
    most = limits.max_patient_boluses_per_day
    if _daily_total(current) + most * drug.max_bolus_ug <= drug.max_dose_ug_per_day:
        pytest.skip("no patient-bolus limits add up past the drug's daily limit")
    request = replace(
        as_stage_request(current),
        patient_dose_ug=drug.max_bolus_ug,
        patient_duration_s=limits.max_bolus_duration_s,
        patient_lockout_s=limits.max_bolus_duration_s,
        patient_max_per_day=most,
    )
    before = therapy(pump)
    with pytest.raises(DeviceRefused) as refused:
        pump.stage(request)
    assert refused.value.reason is Reason.DRUG_LIMIT
    assert therapy(pump) == before


@pytest.mark.provokes("DOSE_CHANGE_LIMIT")
def test_dose_change_limit(pump: Programmer) -> None:
    # The drug's highest daily dose, staged: above 1.4 x any dose at or below today's, and
    # (unless it was in force within the day) above the highest; no patient boluses on top.
    current = _programmed(pump)
    limits = pump.limits()
    highest = limits.drugs[0].max_dose_ug_per_day
    if not limits.max_dose_increase_pct:
        pytest.skip("this pump has no dose-change cap")
    if highest * 100 <= _daily_total(current) * (100 + limits.max_dose_increase_pct):
        pytest.skip("the dose in force is too high to step past the cap within the drug limit")
    request = replace(
        continuous(current, highest),
        patient_dose_ug=0,
        patient_duration_s=0,
        patient_lockout_s=0,
        patient_max_per_day=0,
    )
    before = therapy(pump)
    with pytest.raises(DeviceRefused) as refused:
        pump.stage(request)
    assert refused.value.reason is Reason.DOSE_CHANGE_LIMIT
    assert therapy(pump) == before


@pytest.mark.provokes("NOTHING_STAGED")
def test_nothing_staged(pump: Programmer) -> None:
    before = therapy(pump)
    with pytest.raises(DeviceRefused) as refused:  # a new session has nothing staged
        pump.link.transact_changing(CommitPrescription(secrets.token_bytes(16), 0))
    assert refused.value.reason in (Reason.NOTHING_STAGED, Reason.WRONG_STATE)
    if refused.value.reason is Reason.WRONG_STATE:
        pytest.skip(f"a {before[1].name} pump refuses any commit for its state first")
    assert therapy(pump) == before


@pytest.mark.provokes("DIGEST_MISMATCH")
def test_digest_mismatch(pump: Programmer) -> None:
    current = _programmed(pump)
    staged = pump.stage(as_stage_request(current))  # what is in force, staged again
    wrong = bytes(b ^ 0xFF for b in staged.digest)
    before = therapy(pump)
    with pytest.raises(DeviceRefused) as refused:
        pump.link.transact_changing(CommitPrescription(wrong, 0), resend_if_not_received=False)
    assert refused.value.reason is Reason.DIGEST_MISMATCH
    assert therapy(pump) == before


@pytest.mark.provokes("NO_SUCH_ALARM")
def test_no_such_alarm(pump: Programmer) -> None:
    alarm = inactive_alarm(pump.status())
    with pytest.raises(DeviceRefused) as refused:
        pump.acknowledge(alarm)
    assert refused.value.reason is Reason.NO_SUCH_ALARM
    assert not pump.status().silenced & alarm.flag


@pytest.mark.provokes("NOT_PERMITTED")
def test_not_permitted(pump: Programmer, device: DeviceUnderTest) -> None:
    # A patient bolus with no patient limits programmed: nothing says what it would be.
    current = pump.prescription()
    if current.patient_dose_ug:
        pytest.skip("patient boluses are programmed: a press would deliver one")
    before = therapy(pump)
    if before[1] is not PumpState.INFUSING:
        pytest.skip("a patient bolus is refused for the state first when not infusing")
    switch_role(pump, device, Role.PATIENT)
    with pytest.raises(DeviceRefused) as refused:
        pump.link.transact_changing(PatientBolus())
    assert refused.value.reason is Reason.NOT_PERMITTED
    switch_role(pump, device, Role.CLINICIAN)
    assert therapy(pump) == before


def _patient_limits(pump: Programmer, lockout_s: int, max_per_day: int) -> None:
    """Small patient boluses on the prescription in force (docs/domain.md ranges)."""
    pump.set_patient_limits(
        dose_ug=10, duration_s=600, lockout_s=lockout_s, max_per_day=max_per_day
    )


@pytest.mark.destructive
@pytest.mark.provokes("LOCKOUT")
@pytest.mark.exchanges("PATIENT_BOLUS")
def test_patient_bolus_then_lockout(pump: Programmer, device: DeviceUnderTest) -> None:
    if pump.status().state is not PumpState.INFUSING:
        pytest.skip("patient boluses need an infusing pump")
    _patient_limits(pump, lockout_s=3_600, max_per_day=4)
    switch_role(pump, device, Role.PATIENT)
    given = pump.patient_bolus()
    assert given.duration_s == 600
    with pytest.raises(DeviceRefused) as refused:
        pump.patient_bolus()
    assert refused.value.reason is Reason.LOCKOUT
    assert pump.status().patient_bolus_ends_s > 0  # the first one runs on


@pytest.mark.needs_control
@pytest.mark.destructive
@pytest.mark.provokes("DAILY_LIMIT")
def test_daily_limit(pump: Programmer, device: DeviceUnderTest, rig: ControlClient) -> None:
    if pump.status().state is not PumpState.INFUSING:
        pytest.skip("patient boluses need an infusing pump")
    _patient_limits(pump, lockout_s=600, max_per_day=1)
    switch_role(pump, device, Role.PATIENT)
    pump.patient_bolus()
    rig.advance("1h")  # past the bolus and its lockout, within the day
    with pytest.raises(DeviceRefused) as refused:
        pump.patient_bolus()
    assert refused.value.reason is Reason.DAILY_LIMIT


@pytest.mark.destructive
@pytest.mark.provokes("DOSE_REENTRY_REQUIRED")
@pytest.mark.exchanges("REFILL")
def test_refill_with_a_new_concentration_needs_the_dose(pump: Programmer) -> None:
    status = pump.status()
    limits = pump.limits()
    drug = limits.drugs[0]
    other = 1_000 if status.concentration_ug_per_ml != 1_000 else 500
    volume_nl = limits.reservoir_capacity_ul * 1_000 // 2
    with pytest.raises(DeviceRefused) as refused:
        pump.refill_staged(volume_nl, other, NO_DIGEST, drug=drug.name)
    assert refused.value.reason is Reason.DOSE_REENTRY_REQUIRED
    assert pump.status().concentration_ug_per_ml == status.concentration_ug_per_ml
    refilled = pump.refill(volume_nl, status.concentration_ug_per_ml, drug=drug.name)
    assert refilled.measured_nl == refilled.expected_nl  # not measured: the pump's own figure
    assert 0 <= volume_nl // 1_000 - pump.status().reservoir_ul <= 1  # delivery goes on


@pytest.mark.needs_control
@pytest.mark.destructive
@pytest.mark.provokes("NO_DRUG")
@pytest.mark.timeout(120)
def test_no_drug(pump: Programmer, rig: ControlClient) -> None:
    status = pump.status()
    if not status.rate_nl_per_day:
        pytest.skip("the pump is not delivering: its reservoir does not empty")
    days = math.ceil(status.reservoir_ul * 1_000 / status.rate_nl_per_day) + 1
    rig.advance(f"{days}d")
    assert pump.status().state is PumpState.EMPTY
    pump.stop(confirm_withdrawal_risk=True)  # stopped, and still empty
    with pytest.raises(DeviceRefused) as refused:
        pump.stage(as_stage_request(pump.prescription()))
    assert refused.value.reason is Reason.NO_DRUG


# -- message types: each exchanged, and what it says checked ---------------------------------


@pytest.mark.exchanges("HELLO", "SESSION_OPEN", "SESSION_AUTH", "SESSION_CLOSE")
def test_session_messages(link: Programmer, device: DeviceUnderTest) -> None:
    hello = link.hello()
    assert hello.serial_number
    switch_role(link, device, Role.READ_ONLY)
    assert link.link.connection.session_role is Role.READ_ONLY
    assert isinstance(link.status(), StatusReply)
    link.link.close_session()
    with pytest.raises(DeviceRefused) as refused:
        link.link.transact(GetStatus())
    assert refused.value.reason is Reason.NOT_AUTHENTICATED  # the session is over


@pytest.mark.exchanges(
    "GET_STATUS", "GET_PRESCRIPTION", "GET_ALARMS", "READ_LOG", "GET_CLOCK", "GET_LIMITS"
)
def test_interrogation_messages(pump: Programmer) -> None:
    status = pump.status()
    prescription = pump.prescription()
    assert prescription.mode == status.mode
    alarms = pump.alarms()
    assert {entry.alarm.flag for entry in alarms.alarms} == {
        code.flag for code in AlarmCode if status.alarms & code.flag
    }
    assert pump.clock() >= status.clock_s
    limits: LimitsReply = pump.limits()
    assert status.reservoir_ul <= limits.reservoir_capacity_ul
    alarm_range = range(limits.low_reservoir_min_ul, limits.low_reservoir_max_ul + 1)
    assert prescription.low_reservoir_ul in alarm_range
    page = pump.read_log(0, max_entries=1)
    assert len(page.entries) <= 1
    assert page.oldest <= page.next


@pytest.mark.exchanges("READ_LOG_PAGES")
def test_log_in_bursts(pump: Programmer) -> None:
    """One READ_LOG_PAGES, a burst of signed pages numbered from 0, the last one marked,
    holding what READ_LOG holds (docs/protocol.md, section 7, "Reading the log in bursts")."""
    replies = pump.link.transact_burst(
        ReadLogPages(0, 2, 3),
        lambda got: any(isinstance(r, LogBurstPage) and r.last for r in got),
    )
    pages = [r for r in replies if isinstance(r, LogBurstPage)]
    assert len(pages) == len(replies)
    assert 1 <= pages[0].pages <= 3
    assert [p.page for p in pages] == list(range(pages[0].pages))
    assert all(1 <= len(p.entries) <= 2 for p in pages)
    indices = [e.index for p in pages for e in p.entries]
    assert indices == sorted(set(indices))
    first = pump.read_log(0, max_entries=2)
    assert first.entries == pages[0].entries


@pytest.mark.changes_therapy
@pytest.mark.exchanges("STAGE_PRESCRIPTION", "COMMIT_PRESCRIPTION")
def test_stage_and_commit(pump: Programmer) -> None:
    before = _programmed(pump)
    limits = pump.limits()
    volume_ul = max(limits.low_reservoir_min_ul, before.low_reservoir_ul - 500)
    if volume_ul == before.low_reservoir_ul:
        volume_ul += 500
    try:
        change = pump.set_low_reservoir_alarm(volume_ul)
        assert change.staged.low_reservoir_ul == volume_ul
        assert pump.prescription().low_reservoir_ul == volume_ul
    finally:
        pump.program(as_stage_request(before))
    assert pump.prescription() == before


@pytest.mark.changes_therapy
@pytest.mark.exchanges("STOP", "START")
def test_stop_and_start(pump: Programmer) -> None:
    state = pump.status().state
    if state is PumpState.INFUSING:
        try:
            assert pump.stop(confirm_withdrawal_risk=True).state is PumpState.STOPPED
        finally:
            started = pump.start()
        assert started.state is PumpState.INFUSING
    elif state is PumpState.STOPPED and pump.prescription().mode is not Mode.NONE:
        try:
            assert pump.start().state is PumpState.INFUSING
        finally:
            stopped = pump.stop(confirm_withdrawal_risk=True)
        assert stopped.state is PumpState.STOPPED
    else:
        pytest.skip(f"a {state.name} pump is neither started nor stopped by a clinician")


@pytest.mark.destructive
@pytest.mark.exchanges("BOLUS")
def test_bolus(pump: Programmer) -> None:
    if pump.status().state not in (PumpState.STOPPED, PumpState.INFUSING):
        pytest.skip("a bolus is given only when stopped or infusing")
    given = pump.bolus(10, 600)
    assert given.duration_s == 600
    assert pump.status().state is PumpState.BOLUS


@pytest.mark.destructive
@pytest.mark.exchanges("PRIME")
def test_prime(pump: Programmer) -> None:
    if pump.status().state is PumpState.INFUSING:
        pump.stop(confirm_withdrawal_risk=True)
    if pump.status().state is not PumpState.STOPPED:
        pytest.skip("priming needs a stopped pump")
    primed = pump.prime(0)
    assert primed.volume_nl == pump.limits().catheter_volume_nl
    assert pump.status().state is PumpState.PRIMING


@pytest.mark.destructive
@pytest.mark.exchanges("SET_CLOCK", "GET_CLOCK")
def test_set_clock(pump: Programmer) -> None:
    later = pump.clock() + 3_600
    assert pump.set_clock(later) == later
    assert later <= pump.clock() < later + 60


@pytest.mark.needs_control
@pytest.mark.destructive
@pytest.mark.exchanges("ALARM_NOTIFICATION", "ACK_ALARM")
@pytest.mark.timeout(120)
def test_alarm_notification_then_acknowledge(pump: Programmer, rig: ControlClient) -> None:
    status = pump.status()
    low_ul = pump.prescription().low_reservoir_ul
    if not status.rate_nl_per_day or status.reservoir_ul <= low_ul:
        pytest.skip("the low-reservoir alarm is not ahead")
    days = math.ceil((status.reservoir_ul - low_ul) * 1_000 / status.rate_nl_per_day) + 1
    rig.advance(f"{days}d")  # the alarm goes out to the open session as it is raised
    notification = _notified(pump, AlarmCode.LOW_RESERVOIR)
    assert notification.raised == 1
    assert notification.active & AlarmCode.LOW_RESERVOIR.flag
    acknowledged = pump.acknowledge(AlarmCode.LOW_RESERVOIR)
    entries = {entry.alarm: entry for entry in acknowledged.alarms}
    assert entries[AlarmCode.LOW_RESERVOIR].silenced == 1


def _notified(pump: Programmer, alarm: AlarmCode, timeout_s: float = 30.0) -> AlarmNotification:
    deadline = time.monotonic() + timeout_s  # real time: the frame is already on its way
    while time.monotonic() < deadline:
        for event in pump.link.listen(1.0):
            message = event.message
            if isinstance(message, AlarmNotification) and message.alarm is alarm:
                return message
    raise AssertionError(f"no {alarm.name} notification within {timeout_s:g} s")


@pytest.mark.provokes("NO_SUCH_ALARM")
@pytest.mark.exchanges("GET_OUTCOME")
def test_outcome_of_a_request_of_an_ended_session(
    pump: Programmer, device: DeviceUnderTest
) -> None:
    alarm = inactive_alarm(pump.status())
    outgoing = pump.link.connection.prepare(AckAlarm(alarm))
    pump.link.send_raw(outgoing.data)
    _refused(refusal(pump.link, outgoing.seq), Reason.NO_SUCH_ALARM, int(MessageType.ACK_ALARM))
    switch_role(pump, device, Role.CLINICIAN)  # a new session: the old one is over
    answer = pump.link.transact(GetOutcome(outgoing.session_id, outgoing.counter, outgoing.tag))
    assert isinstance(answer, OutcomeReply)
    assert answer.status is OutcomeStatus.NOT_DONE
    remembered = decode_attached_reply(answer.reply_type, answer.reply)
    assert isinstance(remembered, ErrorReply)
    assert remembered.reason is Reason.NO_SUCH_ALARM
    never = GetOutcome(outgoing.session_id, outgoing.counter + 1, bytes(8))
    unknown = pump.link.transact(never)
    assert isinstance(unknown, OutcomeReply)
    assert unknown.status is OutcomeStatus.NOT_RECEIVED
