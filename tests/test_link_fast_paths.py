"""The round trip's short cuts say exactly what the long way says: the status reply packed
straight from the model, a reply given as a payload, and the programmer's one-call receive."""

from __future__ import annotations

import contextlib
import struct

import pytest

from emulator.device import EmulatedDevice, Identity
from emulator.presets import PRESETS, build_preset
from firmware_model import PumpConfig, PumpRefusal
from protocol import (
    FrameDropped,
    GetStatus,
    Hello,
    HelloReply,
    ProgrammerConnection,
    ProgrammerEvent,
    PumpConnection,
    ReplyReceived,
    RequestReceived,
    Retransmitted,
    Role,
    StatusReply,
    Stop,
)
from protocol.frame import MAX_PAYLOAD_LEN
from protocol.messages import encode_payload
from tests.protocol.pair import seeded
from tests.test_status_reply import CHANGES, CLOCK_US, KEYS, SERIAL, from_snapshot


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("change", list(CHANGES))
def test_the_packed_status_payload_is_the_replys_encoding(preset: str, change: str) -> None:
    pump = build_preset(preset, PumpConfig(), CLOCK_US)
    with contextlib.suppress(PumpRefusal):
        CHANGES[change](pump)
    device = EmulatedDevice(pump, Identity(serial_number=SERIAL), KEYS)
    assert device._status_payload() == encode_payload(from_snapshot(pump))


def _session() -> tuple[PumpConnection, ProgrammerConnection]:
    pump = PumpConnection(SERIAL, KEYS.keys, random_bytes=seeded(1))
    programmer = ProgrammerConnection(7, seeded(2))

    def exchange(data: bytes) -> list[ProgrammerEvent]:
        pump.receive_data(data, 0)
        list(pump.events())
        return programmer.receive_events(pump.data_to_send())

    key = KEYS.keys[Role.CLINICIAN]
    challenge = exchange(programmer.request(programmer.begin_session(Role.CLINICIAN, key,
                                                                    SERIAL, "t"))[1])  # fmt: skip
    assert isinstance(challenge[0], ReplyReceived)
    opened = exchange(programmer.request(programmer.answer_challenge(challenge[0].message))[1])  # type: ignore[arg-type]
    assert isinstance(opened[0], ReplyReceived)
    assert opened[0].authenticated
    return pump, programmer


def _payload_reply(
    pump: PumpConnection, data: bytes, payload: bytes, msg_type: int = int(StatusReply.TYPE)
) -> bytes:
    pump.receive_data(data, 0)
    for event in pump.events():
        if isinstance(event, RequestReceived):
            pump.reply_payload(event, msg_type, payload)
    return pump.data_to_send()


def test_a_payload_reply_is_signed_checked_and_answers_a_retransmission_from_the_cache() -> None:
    pump, programmer = _session()
    payload = bytes(StatusReply.FAST.size)  # type: ignore[union-attr]
    seq, data = programmer.request(GetStatus())
    reply = _payload_reply(pump, data, payload)
    events = programmer.receive_events(reply)
    assert len(events) == 1
    assert isinstance(events[0], ReplyReceived)
    assert events[0].seq == seq
    assert events[0].authenticated
    assert isinstance(events[0].message, StatusReply)
    pump.receive_data(data, 0)  # the very same bytes again: the cached reply, byte for byte
    assert [type(e) for e in pump.events()] == [Retransmitted]
    again = pump.data_to_send()
    assert again == reply
    dropped = programmer.receive_events(again)  # the programmer takes a counter once
    assert len(dropped) == 1
    assert isinstance(dropped[0], FrameDropped)


def test_a_payload_reply_outside_a_session_is_unsigned() -> None:
    pump = PumpConnection(SERIAL, KEYS.keys, random_bytes=seeded(1))
    programmer = ProgrammerConnection(3)
    hello = HelloReply("ITBP-20", SERIAL, "0.2.0", 1, 2, 2)
    data = programmer.request(Hello())[1]
    reply = _payload_reply(pump, data, encode_payload(hello), int(HelloReply.TYPE))
    events = programmer.receive_events(reply)
    assert len(events) == 1
    assert isinstance(events[0], ReplyReceived)
    assert events[0].message == hello
    assert not events[0].authenticated


def test_a_payload_reply_refuses_a_changing_request() -> None:
    pump, programmer = _session()
    pump.receive_data(programmer.request(Stop(0))[1], 0)
    request = next(e for e in pump.events() if isinstance(e, RequestReceived))
    with pytest.raises(ValueError, match="reply"):
        pump.reply_payload(request, int(StatusReply.TYPE), b"")


def test_receive_events_keeps_what_receive_data_left_first_and_in_order() -> None:
    programmer = ProgrammerConnection(3)
    pump = PumpConnection(SERIAL, KEYS.keys, random_bytes=seeded(1))
    replies = []
    for _ in range(2):
        pump.receive_data(programmer.request(Hello())[1], 0)
        for event in pump.events():
            assert isinstance(event, RequestReceived)
            pump.reply(event, HelloReply("ITBP-20", SERIAL, "0.2.0", 1, 2, 2))
        replies.append(pump.data_to_send())
    programmer.receive_data(replies[0])
    events = programmer.receive_events(replies[1])
    assert [e.seq for e in events if isinstance(e, ReplyReceived)] == [3, 4]
    assert list(programmer.events()) == []


assert StatusReply.FAST is not None
STATUS_LAYOUT: struct.Struct = StatusReply.FAST
# Fields whose bytes need stuffing (0xC0, 0xDB), and the largest and smallest of each type
# (codes within their enumerations, so that the programmer takes the reply).
STATUS_FIELDS = [
    (1, 1, 0, 0, 200, 400_000, 400_000, 500, 20_000, 0, 999_902, 37_000, 1_795_000_000, 1, 0),
    (5, 2, 0x1B, 0x10, 0xC0C0C0C0, 0xDBDBDBDB, 0xC0DB_C0DB, 0xDBC0_DBC0, 0xC0, 0xDB,
     0xC0C0, 0xDBDB, 0xC0DB_C0DB_C0DB_C0DB, 0xC0, 0xDBDB_DBDB_DBDB_DBDB),
    (6, 2, 0x3F, 0x3F, *[0xFFFF_FFFF] * 8, 2**64 - 1, 0xFF, 2**64 - 1),
    (0,) * 15,
]  # fmt: skip


def _request(pump: PumpConnection, data: bytes) -> RequestReceived:
    pump.receive_data(data, 0)
    request = next(iter(pump.events()))  # read no further: it is unanswered
    assert isinstance(request, RequestReceived)
    return request


@pytest.mark.parametrize("fields", STATUS_FIELDS)
def test_a_payload_reply_is_the_very_frame_reply_sends(fields: tuple[int, ...]) -> None:
    """Two pumps with the same session: one answers with ``reply_payload``, the other with
    ``reply``; the frames agree byte for byte, each time (counter, cache and all)."""
    (fast, programmer), (slow, _) = _session(), _session()
    message = StatusReply(*fields)  # type: ignore[arg-type]  # codes as plain ints
    payload = STATUS_LAYOUT.pack(*fields)
    assert encode_payload(message) == payload
    for _ in range(3):
        data = programmer.request(GetStatus())[1]
        fast.reply_payload(_request(fast, data), int(StatusReply.TYPE), payload)
        slow.reply(_request(slow, data), message)
        frame = fast.data_to_send()
        assert frame == slow.data_to_send()
        events = programmer.receive_events(frame)
        assert len(events) == 1
        assert isinstance(events[0], ReplyReceived)
        assert events[0].authenticated
        assert encode_payload(events[0].message) == payload
        fast.receive_data(data, 0)  # a retransmission: the cached frame, byte for byte
        assert [type(e) for e in fast.events()] == [Retransmitted]
        assert fast.data_to_send() == frame


def test_a_payload_too_long_raises_and_spends_nothing() -> None:
    pump, programmer = _session()
    request = _request(pump, programmer.request(GetStatus())[1])
    counter = pump._session.tx_counter  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="exceeds"):
        pump.reply_payload(request, int(StatusReply.TYPE), bytes(MAX_PAYLOAD_LEN + 1))
    assert pump.data_to_send() == b""
    assert pump._session.tx_counter == counter  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match="answer"):  # still the request to answer
        list(pump.events())
    pump.reply_payload(request, int(StatusReply.TYPE), STATUS_LAYOUT.pack(*STATUS_FIELDS[0]))
    events = programmer.receive_events(pump.data_to_send())
    assert isinstance(events[0], ReplyReceived)
    assert events[0].message.TYPE == StatusReply.TYPE
