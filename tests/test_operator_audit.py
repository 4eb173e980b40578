"""Who did it: the operator named at SESSION_OPEN is on every clinical record of the session
(issue 7, point 8), and nobody on the line can change it.
"""

from __future__ import annotations

import pytest

from protocol import (
    Bolus,
    ErrorReply,
    GetPrescription,
    LogPage,
    LogRecord,
    Mode,
    ReadLog,
    Reason,
    Role,
    SessionChallenge,
    SessionOpen,
    StagePrescription,
    Stop,
    WireStep,
)
from protocol.frame import frame_body, seal
from protocol.messages import encode_payload
from protocol.stuffing import END_BYTE, unstuff
from tests.test_emulated_device import KEYS, SERIAL, Session, session


def test_every_clinical_record_of_a_session_names_its_operator_and_request() -> None:
    s = session()
    s.ask(Bolus(5, 60))
    s.ask(Stop(0))  # refused: the refusal is the operator's too
    records = [
        e
        for _, log_class, e in s.device.pump.log.classified_page(0, 1 << 20)
        if log_class == "clinical" and e.detail.get("by")
    ]
    assert {e.kind for e in records} >= {"bolus_started", "state", "refused"}
    assert {e.detail["by"] for e in records} == {"tester"}
    assert all(":" in str(e.detail["req"]) for e in records)
    opened = [e for e in s.device.pump.log if e.kind == "session_opened"]
    assert opened[-1].detail["by"] == "tester"


def test_records_of_time_passing_name_nobody() -> None:
    s = session()
    s.tick(50 * 86_400 * 1_000_000)  # the low-reservoir alarm comes by itself
    alarms = [e for e in s.device.pump.log if e.kind == "alarm"]
    assert alarms
    assert all("by" not in e.detail for e in alarms)


def test_an_operator_changed_on_the_line_breaks_the_handshake() -> None:
    s = Session(session().device)
    _, opening = s.programmer.request(
        s.programmer.begin_session(Role.CLINICIAN, KEYS.keys[Role.CLINICIAN], SERIAL, "alice")
    )
    body = unstuff(opening.strip(END_BYTE))[:-2]
    tampered = seal(body.replace(b"alice", b"mallo"))  # same length, CRC mended
    s.programmer.receive_data(s.device.receive(tampered, 0, 0))
    (challenge,) = [e.message for e in s.programmer.events()]  # type: ignore[union-attr]
    assert isinstance(challenge, SessionChallenge)
    reply = s.ask(s.programmer.answer_challenge(challenge))
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.AUTH_FAILED
    assert s.programmer.session_role is None


@pytest.mark.parametrize("operator", ["", "x" * 33])
def test_an_operator_must_be_1_to_32_characters(operator: str) -> None:
    s = Session(session().device)
    opening = SessionOpen(1, bytes(16), operator)
    s.programmer.receive_data(
        s.device.receive(seal(frame_body(0, 5, 2, encode_payload(opening))), 0, 0)
    )
    (event,) = list(s.programmer.events())
    assert isinstance(event.message, ErrorReply)  # type: ignore[union-attr]
    assert event.message.reason is Reason.VALUE_OUT_OF_RANGE  # type: ignore[union-attr]
    assert "1..32" in event.message.message  # type: ignore[union-attr]


def refused_records(s: Session) -> list[LogRecord]:
    """The refusals as the wire carries them, read with READ_LOG from where they start."""
    first = min(i for i, e in s.device.pump.log.items() if e.kind == "refused")
    reader = Session(s.device, now_us=s.now_us, link_us=s.link_us)
    reader.open()  # a clinician: a patient may not read the log
    page = reader.ask(ReadLog(first, 8))
    assert isinstance(page, LogPage)
    return [r for r in page.entries if r.kind == "refused"]


def test_a_refusal_by_the_link_checks_names_its_operator_and_request_first() -> None:
    s = session(Role.PATIENT)
    s.ask(GetPrescription())  # FORBIDDEN for a patient: refused before the pump looks at it
    (refused,) = [e for e in s.device.pump.log if e.kind == "refused"]
    assert refused.detail["by"] == "tester"
    assert refused.detail["request"] == "get_prescription"
    assert refused.detail["reason"] == "forbidden"
    (record,) = refused_records(s)
    assert record.detail.startswith(f"by=tester req={refused.detail['req']} ")
    assert record.detail.endswith(f"message={refused.detail['message']}")


def test_a_long_refusal_is_cut_in_its_message_never_in_its_request_name() -> None:
    s = session()
    s.ask(
        StagePrescription(
            Mode.FLEX, tuple(WireStep(i, 5) for i in range(30, 0, -1)), 0, 0, 0, 0, 2_000
        )
    )
    (record,) = refused_records(s)
    req = next(e for e in s.device.pump.log if e.kind == "refused").detail["req"]
    assert record.detail.startswith(f"by=tester req={req} request=stage ")
    assert len(record.detail) <= 255


def test_the_state_is_checked_before_the_fields() -> None:
    s = session()
    s.ask(Bolus(5, 60))  # the pump is in a bolus: no programming
    reply = s.ask(StagePrescription(Mode.CONTINUOUS, (), 0, 0, 0, 0, 2_000))  # bad too
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.WRONG_STATE
