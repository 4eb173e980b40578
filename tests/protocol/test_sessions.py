"""Sessions, authentication, replay protection, roles, lockout and at-most-once execution."""

from __future__ import annotations

import pytest

from protocol import (
    AlarmCode,
    AlarmFlags,
    AlarmNotification,
    ErrorReply,
    FrameDropped,
    FrameError,
    GetPrescription,
    GetStatus,
    Hello,
    HelloReply,
    Keyring,
    Message,
    NotificationReceived,
    PatientBolus,
    ProgrammerEvent,
    Reason,
    ReplyReceived,
    Retransmitted,
    Role,
    SessionClose,
    SessionClosed,
    SessionOpened,
    SessionStarted,
    StagePrescription,
    StatusReply,
    Stop,
)
from protocol.frame import decode_body, seal
from protocol.stuffing import END_BYTE, unstuff
from tests.protocol.pair import SERIAL, Pair, seeded

SECOND = 1_000_000


def only_reply(events: list[ProgrammerEvent]) -> Message:
    replies = [e.message for e in events if isinstance(e, ReplyReceived)]
    assert len(replies) == 1, events
    return replies[0]


def reason_of(message: object) -> Reason:
    assert isinstance(message, ErrorReply), message
    return message.reason


def test_without_a_session_only_identity_and_session_opening_are_answered() -> None:
    pair = Pair()
    assert isinstance(pair.ask(Hello()), HelloReply)
    assert reason_of(pair.ask(GetStatus())) is Reason.NOT_AUTHENTICATED
    assert pair.executed == [Hello()]


def test_session_opens_with_mutual_proof_and_signs_every_frame() -> None:
    pair = Pair()
    opened = pair.open_session()
    assert isinstance(opened, SessionOpened)
    assert pair.programmer.session_role is Role.CLINICIAN
    assert any(isinstance(e, SessionStarted) for e in pair.pump_events)
    assert isinstance(pair.ask(GetStatus()), StatusReply)


def test_wrong_proofs_never_lock_the_right_key_out() -> None:
    # Version 1 locked every role out for 15 minutes after five bad proofs that needed no
    # key. Version 2 has no lockout: the right key opens at once after them.
    pair = Pair()
    wrong = Keyring.generate(SERIAL, seeded(99))
    reasons = [reason_of(pair.open_session(keyring=wrong)) for _ in range(5)]
    assert reasons == [Reason.AUTH_FAILED] * 5
    assert isinstance(pair.open_session(), SessionOpened)


def test_key_verifications_are_limited_to_100_in_any_30_s() -> None:
    pair = Pair()
    wrong = Keyring.generate(SERIAL, seeded(99))
    for _ in range(100):  # docs/protocol.md, section 4: at most 100 in any 30 s
        pair.now_us += 1_000
        assert reason_of(pair.open_session(keyring=wrong)) is Reason.AUTH_FAILED
    refusal = pair.open_session()
    assert reason_of(refusal) is Reason.RATE_LIMITED
    assert isinstance(refusal, ErrorReply)
    assert refusal.message.startswith("30 s ")  # the wait leads the message, in whole seconds
    pair.now_us += 30 * SECOND  # the first verification leaves the window
    assert isinstance(pair.open_session(), SessionOpened)


def test_patient_session_cannot_change_the_prescription() -> None:
    pair = Pair()
    assert isinstance(pair.open_session(Role.PATIENT), SessionOpened)
    forbidden = [
        GetPrescription(),
        StagePrescription(1, (), 0, 0, 0, 0, 2000),  # type: ignore[arg-type]
        Stop(0x53544F50),
    ]
    for message in forbidden:
        assert reason_of(pair.ask(message)) is Reason.FORBIDDEN
    assert isinstance(pair.ask(GetStatus()), StatusReply)
    pair.ask(PatientBolus())
    assert [type(m).__name__ for m in pair.executed] == ["GetStatus", "PatientBolus"]


def test_read_only_session_cannot_change_anything() -> None:
    pair = Pair()
    pair.open_session(Role.READ_ONLY)
    assert reason_of(pair.ask(PatientBolus())) is Reason.FORBIDDEN
    assert reason_of(pair.ask(Stop(0x53544F50))) is Reason.FORBIDDEN


def test_retransmission_is_answered_from_cache_and_executed_once() -> None:
    pair = Pair()
    pair.open_session()
    _seq, data = pair.programmer.request(PatientBolus())
    first = pair.deliver_to_pump(data)
    again = pair.deliver_to_pump(data)
    assert again == first
    assert pair.executed.count(PatientBolus()) == 1
    assert any(isinstance(e, Retransmitted) for e in pair.pump_events)


def test_copies_of_old_frames_never_run_again() -> None:
    pair = Pair()
    pair.open_session()
    captured = [pair.programmer.request(m)[1] for m in (GetStatus(), PatientBolus(), GetStatus())]
    answers = [pair.deliver_to_pump(data) for data in captured]
    executed = len(pair.executed)
    for data, answer in zip(captured, answers, strict=True):
        assert pair.deliver_to_pump(data) == answer  # within the window: the cached reply
    assert len(pair.executed) == executed


def test_a_replay_does_not_cost_the_genuine_retransmission_its_cached_reply() -> None:
    pair = Pair()
    pair.open_session()
    old = pair.programmer.request(GetStatus())[1]
    pair.deliver_to_pump(old)
    _, last = pair.programmer.request(PatientBolus())
    first = pair.deliver_to_pump(last)
    pair.deliver_to_pump(old)  # an attacker replays an old frame
    assert pair.deliver_to_pump(last) == first  # our lost reply, resent from the cache
    assert pair.executed.count(PatientBolus()) == 1


def test_a_frame_overtaken_before_it_ran_is_refused_signed() -> None:
    pair = Pair()
    pair.open_session()
    early = pair.programmer.request(GetStatus())[1]
    late = pair.programmer.request(PatientBolus())[1]
    pair.deliver_to_pump(late)
    replies = pair.deliver_to_programmer(pair.deliver_to_pump(early))
    assert [type(m).__name__ for m in pair.executed][-1] == "PatientBolus"
    # It never ran and never will: the pump may say so, signed.
    (reply,) = [e for e in replies if isinstance(e, ReplyReceived)]
    assert reply.authenticated
    assert reason_of(reply.message) is Reason.REPLAYED


def test_frames_of_another_session_are_refused() -> None:
    pair = Pair()
    pair.open_session()
    old = pair.programmer.request(PatientBolus())[1]
    assert isinstance(pair.ask(SessionClose()), SessionClosed)
    pair.open_session()
    replies = pair.deliver_to_programmer(pair.deliver_to_pump(old))
    assert reason_of(only_reply(replies)) is Reason.UNKNOWN_SESSION


def test_tampered_frame_fails_its_tag() -> None:
    pair = Pair()
    pair.open_session()
    data = pair.programmer.request(GetStatus())[1]
    body = bytearray(unstuff(data.strip(END_BYTE))[:-2])
    body[-1] ^= 0x01  # flip a tag bit, then mend the CRC as an attacker would
    replies = pair.deliver_to_programmer(pair.deliver_to_pump(seal(bytes(body))))
    assert reason_of(only_reply(replies)) is Reason.BAD_TAG


def test_session_expires_when_idle() -> None:
    pair = Pair()
    pair.open_session()
    pair.now_us += pair.pump.idle_timeout_us + 1
    replies = pair.deliver_to_programmer(
        pair.deliver_to_pump(pair.programmer.request(GetStatus())[1])
    )
    assert reason_of(only_reply(replies)) is Reason.UNKNOWN_SESSION


def test_programmer_rejects_a_pump_that_cannot_prove_the_key() -> None:
    impostor = Pair()
    impostor.pump = type(impostor.pump)(SERIAL, Keyring.generate(SERIAL, seeded(7)).keys)
    challenge = impostor.ask(
        impostor.programmer.begin_session(
            Role.CLINICIAN,
            Keyring.generate(SERIAL, seeded(1)).keys[Role.CLINICIAN],
            SERIAL,
            "impostor-test",
        )
    )
    _, data = impostor.programmer.request(impostor.programmer.answer_challenge(challenge))  # type: ignore[arg-type]
    events = impostor.deliver_to_programmer(impostor.deliver_to_pump(data))
    assert impostor.programmer.session_role is None
    assert not any(
        isinstance(e, ReplyReceived) and isinstance(e.message, SessionOpened) for e in events
    )


def test_notifications_are_signed_and_verified() -> None:
    pair = Pair()
    pair.open_session()
    note = AlarmNotification(AlarmCode.LOW_RESERVOIR, 1, 123, AlarmFlags.LOW_RESERVOIR)
    assert pair.pump.notify(note)
    (event,) = pair.deliver_to_programmer(pair.pump.data_to_send())
    assert event == NotificationReceived(note)


def test_no_notification_without_a_session() -> None:
    pair = Pair()
    note = AlarmNotification(AlarmCode.LOW_RESERVOIR, 1, 123, AlarmFlags.LOW_RESERVOIR)
    assert not pair.pump.notify(note)


def test_unsigned_replies_other_than_identity_and_errors_are_dropped() -> None:
    pair = Pair()
    forged = seal(bytes.fromhex("02010005100000"))  # an unsigned empty GET_STATUS "reply"
    (event,) = pair.deliver_to_programmer(forged)
    assert isinstance(event, FrameDropped)


def test_garbage_between_frames_costs_only_itself() -> None:
    pair = Pair()
    pair.open_session()
    seq1, first = pair.programmer.request(GetStatus())
    seq2, second = pair.programmer.request(GetStatus())
    stream = b"\x13\x37\xc0\xdb\x00garbage" + first + b"\xff\xdb" + second + b"\xc0\xc0noise"
    replies = [
        e
        for e in pair.deliver_to_programmer(pair.deliver_to_pump(stream))
        if isinstance(e, ReplyReceived)
    ]
    answered = {r.seq for r in replies if isinstance(r.message, StatusReply)}
    assert answered == {seq1, seq2}


@pytest.mark.parametrize("version_range", [(3, 4), (0, 1), (1, 1)])
def test_version_negotiation_without_overlap_is_left_to_the_application(
    version_range: tuple[int, int],
) -> None:
    pair = Pair()
    assert pair.pump.negotiate(Hello(*version_range)) is None
    assert pair.pump.negotiate(Hello(1, 5)) == 2


def test_unknown_flags_are_dropped_silently() -> None:
    pair = Pair()
    assert pair.deliver_to_pump(seal(bytes.fromhex("02800005100000"))) == b""
    event = decode_body(seal(bytes.fromhex("02800005100000")).strip(END_BYTE))
    assert isinstance(event, FrameError)
    assert event.reason is Reason.UNKNOWN_FLAGS
