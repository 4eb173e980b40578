"""A noisy or hostile link costs at most the frame it touched, and never the pump's state."""

import random
import time

import pytest

from hil_tests.frames import (
    passes_crc,
    raw_request_frame,
    request_frame,
    resealed,
    truncated,
    with_bit_flipped,
)
from hil_tests.prescription import prescription
from programmer import Programmer
from protocol import ClockSet, ErrorReply, GetStatus, Hello, Reason, SetClock, StatusReply
from protocol.stuffing import END_BYTE, unstuff

FRAME_LEVEL = {Reason.BAD_CRC, Reason.BAD_FRAMING, Reason.FRAME_TOO_SHORT, Reason.BAD_LENGTH}
HEADER_LEN = 7  # version, flags, seq(2), type, length(2): docs/protocol.md section 2
AUTH_LEN = 8  # session(4), counter(4)
RETRANSMISSION_WINDOW = 8  # K: docs/protocol.md, section 5


def signed_status_frame(pump: Programmer) -> tuple[int, bytes]:
    return pump.link.connection.request(GetStatus())


def test_corrupted_frame_gets_error_reply_and_changes_nothing(pump: Programmer) -> None:
    before = pump.status()
    _, frame = signed_status_frame(pump)
    pump.link.send_raw(with_bit_flipped(frame, body_offset=HEADER_LEN + 2, bit=2))
    reply = pump.link.wait_for_reply(0)
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.BAD_CRC
    assert prescription(pump.status()) == prescription(before)


@pytest.mark.parametrize("drop", [1, 3, 8])
def test_truncated_frame_gets_error_reply_and_changes_nothing(pump: Programmer, drop: int) -> None:
    before = pump.status()
    seq, frame = signed_status_frame(pump)
    cut = truncated(frame, drop)
    pump.link.send_raw(cut)
    # A frame cut just after a CRC ending 0x00 still passes the CRC (docs/protocol.md,
    # section 2): its header is read, and the BAD_LENGTH refusal names its seq.
    crc_ok = passes_crc(cut)
    reply = pump.link.wait_for_reply(seq if crc_ok else 0)
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.BAD_LENGTH if crc_ok else reply.reason in FRAME_LEVEL
    assert prescription(pump.status()) == prescription(before)


def test_tampered_frame_with_a_good_crc_fails_its_tag(pump: Programmer) -> None:
    seq, frame = signed_status_frame(pump)
    body = bytearray(unstuff(frame.strip(END_BYTE))[:-2])
    body[HEADER_LEN + AUTH_LEN - 1] ^= 0x40  # raise the counter: an attacker's edit
    pump.link.send_raw(resealed(bytes(body)))
    reply = pump.link.wait_for_reply(seq)
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.BAD_TAG


def test_a_replayed_old_frame_gets_no_reply_and_runs_nothing(pump: Programmer) -> None:
    seq, frame = signed_status_frame(pump)
    pump.link.send_raw(frame)
    assert isinstance(pump.link.wait_for_reply(seq), StatusReply)
    for _ in range(RETRANSMISSION_WINDOW):  # newer requests push it out of the window
        pump.status()
    before = pump.status()
    pump.link.send_raw(frame)  # the captured frame, replayed: it may have run, so no
    assert pump.link.wait_for_reply(seq, timeout_s=0.3) is None  # refusal may be signed
    assert prescription(pump.status()) == prescription(before)


def test_a_request_and_its_copy_in_one_write_run_once(pump: Programmer) -> None:
    # docs/protocol.md, section 5: a copy of a request not yet answered gets its reply.
    clock_s = pump.clock()
    outgoing = pump.link.connection.prepare(SetClock(clock_s))  # the clock, left as it is
    pump.link.send_raw(outgoing.data + outgoing.data)  # a UART FIFO, a pump that read late
    reply = pump.link.wait_for_reply(outgoing.seq)
    assert isinstance(reply, ClockSet), reply
    assert pump.link.wait_for_reply(outgoing.seq, timeout_s=0.3) is None  # no refusal
    name = f"req={outgoing.session_id:08x}:{outgoing.counter}"
    ran = [r for r in pump.log_entries() if r.kind == "clock_set" and name in r.detail]
    assert len(ran) == 1


def test_retransmitted_request_gets_the_cached_reply(pump: Programmer) -> None:
    seq, frame = signed_status_frame(pump)
    pump.link.send_raw(frame)
    assert isinstance(pump.link.wait_for_reply(seq), StatusReply)
    pump.link.send_raw(frame)  # as if our first reply had been lost
    # The pump answers from its cache: the very same reply, counter included, which this
    # programmer (having seen it) drops as a duplicate. A re-execution would carry a new one.
    deadline = time.monotonic() + pump.link.timeout_s
    while not pump.link.dropped and time.monotonic() < deadline:
        assert pump.link.wait_for_reply(seq, timeout_s=0.05) is None
    assert [d.reason for d in pump.link.dropped] == [Reason.REPLAYED]


def test_unknown_message_type_is_refused_with_its_sequence(link: Programmer) -> None:
    link.link.send_raw(raw_request_frame(777, 0x6E, b"\x01\x02"))
    reply = link.link.wait_for_reply(777)
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.UNKNOWN_MESSAGE
    assert reply.request_type == 0x6E


def test_bad_payload_is_refused(link: Programmer) -> None:
    link.link.send_raw(raw_request_frame(778, int(Hello.TYPE), b"\x01\x02\x03"))
    reply = link.link.wait_for_reply(778)
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.BAD_PAYLOAD


def test_random_bytes_do_not_stop_the_next_request(pump: Programmer) -> None:
    noise = random.Random(20261122).randbytes(8192)  # seeded: the same noise every run
    before = pump.status()
    pump.link.send_raw(noise)
    after = pump.status()
    assert prescription(after) == prescription(before)


def test_garbage_between_frames_costs_only_itself(link: Programmer) -> None:
    stream = (
        b"\x13\x37"
        + request_frame(801, Hello())
        + b"\xdb\xff\xc0\x00"
        + request_frame(802, Hello())
    )
    link.link.send_raw(stream)
    assert link.link.wait_for_reply(801) is not None
    assert link.link.wait_for_reply(802) is not None
