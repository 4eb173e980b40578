"""A noisy or hostile link costs at most the frame it touched, and never the pump's state."""

import random

import pytest

from hil_tests.frames import raw_request_frame, request_frame, truncated, with_bit_flipped
from hil_tests.prescription import another_dose, prescription
from programmer import Programmer
from protocol import ErrorReply, Reason, SetDose, SetDoseReply

FRAME_LEVEL = {Reason.BAD_CRC, Reason.BAD_FRAMING, Reason.FRAME_TOO_SHORT, Reason.BAD_LENGTH}
HEADER_LEN = 7  # version, flags, seq(2), type, length(2): docs/protocol.md


def test_corrupted_frame_gets_error_reply_and_changes_nothing(pump: Programmer) -> None:
    before = pump.status()
    frame = request_frame(4242, SetDose(another_dose(before)))
    pump.link.send_raw(with_bit_flipped(frame, body_offset=HEADER_LEN + 3, bit=2))
    reply = pump.link.wait_for_reply(0)
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.BAD_CRC
    assert prescription(pump.status()) == prescription(before)


@pytest.mark.parametrize("drop", [1, 3, 8])
def test_truncated_frame_gets_error_reply_and_changes_nothing(pump: Programmer, drop: int) -> None:
    before = pump.status()
    pump.link.send_raw(truncated(request_frame(4343, SetDose(another_dose(before))), drop))
    reply = pump.link.wait_for_reply(0)
    assert isinstance(reply, ErrorReply)
    assert reply.reason in FRAME_LEVEL
    assert prescription(pump.status()) == prescription(before)


def test_unknown_message_type_is_refused_with_its_sequence(pump: Programmer) -> None:
    pump.link.send_raw(raw_request_frame(777, 0x6E, b"\x01\x02"))
    reply = pump.link.wait_for_reply(777)
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.UNKNOWN_MESSAGE
    assert reply.request_type == 0x6E


def test_bad_payload_is_refused(pump: Programmer) -> None:
    pump.link.send_raw(raw_request_frame(778, int(SetDose.TYPE), b"\x00\x00\x01"))
    reply = pump.link.wait_for_reply(778)
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.BAD_PAYLOAD


def test_random_bytes_do_not_stop_the_next_request(pump: Programmer) -> None:
    noise = random.Random(20261122).randbytes(8192)  # seeded: the same noise every run
    before = pump.status()
    pump.link.send_raw(noise)
    after = pump.status()
    assert prescription(after) == prescription(before)


def test_retransmitted_request_gets_the_same_reply(pump: Programmer) -> None:
    before = pump.status()
    frame = request_frame(9191, SetDose(before.dose_ug_per_day))
    pump.link.send_raw(frame)
    first = pump.link.wait_for_reply(9191)
    pump.link.send_raw(frame)
    second = pump.link.wait_for_reply(9191)
    assert isinstance(first, SetDoseReply)
    assert first == second
