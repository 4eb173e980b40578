"""Both ends of the link, sans-IO: no port, no thread, no clock."""

from protocol import (
    BadRequest,
    ErrorReply,
    Flags,
    Frame,
    FrameDropped,
    GetStatus,
    Hello,
    ProgrammerConnection,
    PumpConnection,
    Reason,
    ReplyReceived,
    RequestReceived,
    Retransmission,
    SetDose,
    SetDoseReply,
    encode_frame,
)


def deliver(pump: PumpConnection, data: bytes) -> list[object]:
    pump.receive_data(data)
    return list(pump.events())


def test_request_reply_round_trip() -> None:
    programmer, pump = ProgrammerConnection(first_seq=10), PumpConnection()
    seq, data = programmer.request(SetDose(200))
    (event,) = deliver(pump, data)
    assert isinstance(event, RequestReceived)
    assert event.seq == seq == 10
    assert event.message == SetDose(200)
    programmer.receive_data(pump.reply(event, SetDoseReply(200, 400_000)))
    assert list(programmer.events()) == [ReplyReceived(10, SetDoseReply(200, 400_000))]


def test_retransmission_is_answered_from_cache_not_executed_again() -> None:
    programmer, pump = ProgrammerConnection(), PumpConnection()
    _, data = programmer.request(SetDose(200))
    (first,) = deliver(pump, data)
    assert isinstance(first, RequestReceived)
    reply = pump.reply(first, SetDoseReply(200, 400_000))
    (again,) = deliver(pump, data)
    assert again == Retransmission(first.seq, reply)


def test_refusals_are_cached_too() -> None:
    programmer, pump = ProgrammerConnection(), PumpConnection()
    _, data = programmer.request(SetDose(5000))
    (first,) = deliver(pump, data)
    assert isinstance(first, RequestReceived)
    refusal = pump.refuse(first, Reason.VALUE_OUT_OF_RANGE, "too much")
    (again,) = deliver(pump, data)
    assert again == Retransmission(first.seq, refusal)


def test_same_sequence_with_new_contents_is_a_new_request() -> None:
    pump = PumpConnection()
    old = encode_frame(Frame(Flags.NONE, 7, 3, (200).to_bytes(4, "big")))
    new = encode_frame(Frame(Flags.NONE, 7, 3, (300).to_bytes(4, "big")))
    (first,) = deliver(pump, old)
    assert isinstance(first, RequestReceived)
    pump.reply(first, SetDoseReply(200, 1))
    (second,) = deliver(pump, new)
    assert isinstance(second, RequestReceived)
    assert second.message == SetDose(300)


def test_hello_starts_a_fresh_link() -> None:
    programmer, pump = ProgrammerConnection(first_seq=1), PumpConnection()
    _, data = programmer.request(GetStatus())
    (first,) = deliver(pump, data)
    assert isinstance(first, RequestReceived)
    pump.refuse(first, Reason.WRONG_STATE, "x")
    _, hello = ProgrammerConnection(first_seq=2).request(Hello())
    (greeting,) = deliver(pump, hello)
    assert isinstance(greeting, RequestReceived)
    # A new programmer that happens to reuse sequence 1 is executed, not answered from cache.
    _, data_again = ProgrammerConnection(first_seq=1).request(GetStatus())
    (second,) = deliver(pump, data_again)
    assert isinstance(second, RequestReceived)


def test_corrupt_frame_becomes_bad_request_with_sequence_zero() -> None:
    pump = PumpConnection()
    (event,) = deliver(pump, b"\x00\x05abc\x00")
    assert isinstance(event, BadRequest)
    assert event.seq == 0
    programmer = ProgrammerConnection()
    programmer.receive_data(pump.refuse(event))
    (reply,) = list(programmer.events())
    assert isinstance(reply, ReplyReceived)
    assert reply.seq == 0
    assert isinstance(reply.message, ErrorReply)
    assert reply.message.reason is Reason.BAD_FRAMING


def test_pump_drops_replies_and_unknown_flags_without_answering() -> None:
    pump = PumpConnection()
    reply_frame = encode_frame(Frame(Flags.REPLY, 3, 2, b""))
    strange = encode_frame(Frame(Flags(0x40), 3, 2, b""))
    events = deliver(pump, reply_frame + strange)
    assert [type(e) for e in events] == [FrameDropped, FrameDropped]
    assert [e.reason for e in events if isinstance(e, FrameDropped)] == [
        Reason.WRONG_DIRECTION,
        Reason.UNKNOWN_FLAGS,
    ]


def test_sequence_zero_is_reserved() -> None:
    pump = PumpConnection()
    (event,) = deliver(pump, encode_frame(Frame(Flags.NONE, 0, 2, b"")))
    assert isinstance(event, BadRequest)


def test_programmer_sequence_wraps_past_zero() -> None:
    programmer = ProgrammerConnection(first_seq=0xFFFF)
    assert programmer.request(GetStatus())[0] == 0xFFFF
    assert programmer.request(GetStatus())[0] == 1


def test_programmer_ignores_its_own_echo() -> None:
    programmer = ProgrammerConnection()
    _, data = programmer.request(GetStatus())
    programmer.receive_data(data)  # what loop:// or a half-duplex echo gives back
    (event,) = list(programmer.events())
    assert isinstance(event, FrameDropped)
    assert event.reason is Reason.WRONG_DIRECTION
