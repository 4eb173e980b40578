"""Frames: round trips, resynchronisation, and a decoder that cannot be crashed."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import Flags, Frame, FrameDecoder, FrameError, Reason, encode_frame
from protocol.cobs import cobs_decode, cobs_encode
from protocol.frame import MAX_ENCODED_LEN, MAX_PAYLOAD_LEN, decode_body

frames = st.builds(
    Frame,
    flags=st.sampled_from([Flags.NONE, Flags.REPLY, Flags.NOTIFICATION]),
    seq=st.integers(0, 0xFFFF),
    msg_type=st.integers(0, 0xFF),
    payload=st.binary(max_size=MAX_PAYLOAD_LEN),
)


@given(frames)
def test_round_trip(frame: Frame) -> None:
    assert FrameDecoder().feed(encode_frame(frame)) == [frame]


@given(frames, st.binary(max_size=300), st.integers(1, 64))
def test_garbage_before_a_frame_costs_only_itself(frame: Frame, garbage: bytes, chunk: int) -> None:
    data = garbage + encode_frame(frame)
    decoder = FrameDecoder()
    events = []
    for start in range(0, len(data), chunk):  # arbitrary split points: a serial port's reads
        events += decoder.feed(data[start : start + chunk])
    assert events[-1] == frame
    assert all(isinstance(event, FrameError) for event in events[:-1])


@settings(max_examples=300)
@given(st.binary(max_size=4000))
def test_any_bytes_decode_to_events_with_bounded_memory(data: bytes) -> None:
    decoder = FrameDecoder()
    events = decoder.feed(data)
    assert all(isinstance(event, Frame | FrameError) for event in events)
    assert decoder.buffered <= MAX_ENCODED_LEN


def test_every_single_bit_flip_of_a_frame_is_detected() -> None:
    frame = encode_frame(Frame(Flags.NONE, 0x1234, 0x03, b"\x00\x00\x00\xc8"))
    inner = frame[1:-1]
    for index in range(len(inner)):
        for bit in range(8):
            flipped = bytearray(inner)
            flipped[index] ^= 1 << bit
            events = FrameDecoder().feed(b"\x00" + bytes(flipped) + b"\x00")
            assert events, (index, bit)
            assert all(isinstance(event, FrameError) for event in events), (index, bit)


def test_over_long_input_is_refused_once_then_decoder_recovers() -> None:
    decoder = FrameDecoder()
    events = decoder.feed(b"\x01" * (3 * MAX_ENCODED_LEN))
    assert [e.reason for e in events if isinstance(e, FrameError)] == [Reason.FRAME_TOO_LONG]
    assert decoder.buffered == 0
    frame = Frame(Flags.NONE, 1, 2, b"")
    assert decoder.feed(b"more noise" + encode_frame(frame)) == [frame]


def body_of(frame: Frame) -> bytearray:
    return bytearray(cobs_decode(encode_frame(frame)[1:-1]))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda body: body[:4], Reason.FRAME_TOO_SHORT),
        (lambda body: body[:-1] + bytes([body[-1] ^ 1]), Reason.BAD_CRC),
    ],
)
def test_broken_bodies_name_their_reason(mutate: object, reason: Reason) -> None:
    body = body_of(Frame(Flags.NONE, 5, 2, b"xy"))
    assert callable(mutate)
    event = decode_body(cobs_encode(bytes(mutate(body))))
    assert isinstance(event, FrameError)
    assert event.reason is reason


def _with_crc(body: bytes) -> bytes:
    from protocol.crc import crc16_ccitt_false

    return body + crc16_ccitt_false(body).to_bytes(2, "big")


def test_unsupported_version_keeps_the_trusted_sequence() -> None:
    body = _with_crc(bytes([2, 0, 0x00, 0x09, 0x02, 0, 0]))
    event = decode_body(cobs_encode(body))
    assert event == FrameError(Reason.UNSUPPORTED_VERSION, event.detail, 9, 2)  # type: ignore[union-attr]


def test_unknown_flags_are_reported_as_such() -> None:
    body = _with_crc(bytes([1, 0x80, 0, 1, 0x02, 0, 0]))
    event = decode_body(cobs_encode(body))
    assert isinstance(event, FrameError)
    assert event.reason is Reason.UNKNOWN_FLAGS


def test_length_field_must_match_payload() -> None:
    body = _with_crc(bytes([1, 0, 0, 1, 0x02, 0, 5]) + b"abc")
    event = decode_body(cobs_encode(body))
    assert isinstance(event, FrameError)
    assert event.reason is Reason.BAD_LENGTH
    assert event.seq == 1


def test_oversized_payload_is_a_local_error() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode_frame(Frame(Flags.NONE, 1, 1, bytes(MAX_PAYLOAD_LEN + 1)))
