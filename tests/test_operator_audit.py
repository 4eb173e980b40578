"""Who did it: the operator named at SESSION_OPEN is on every clinical record of the session
(issue 7, point 8), and nobody on the line can change it.
"""

from __future__ import annotations

import pytest

from protocol import (
    Bolus,
    ErrorReply,
    Reason,
    Role,
    SessionChallenge,
    SessionOpen,
    Stop,
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
