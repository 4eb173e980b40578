"""Frames: stuffing, round trips, resynchronisation, and a decoder that cannot be crashed."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import Flags, Frame, FrameDecoder, FrameError, Reason, encode_frame
from protocol.frame import MAX_PAYLOAD_LEN, MAX_STUFFED_LEN, TAG_LEN, decode_body, frame_body, seal
from protocol.stuffing import END_BYTE, StuffingError, stuff, unstuff


@pytest.mark.parametrize(
    ("raw", "stuffed"),
    [
        (b"", b""),
        (b"\x01\x02", b"\x01\x02"),
        (b"\xc0", b"\xdb\xdc"),  # RFC 1055: END inside a frame is ESC ESC_END
        (b"\xdb", b"\xdb\xdd"),  # and ESC is ESC ESC_ESC
        (b"\xdb\xdc", b"\xdb\xdd\xdc"),
        (b"\xc0\xdb\xc0", b"\xdb\xdc\xdb\xdd\xdb\xdc"),
    ],
)
def test_stuffing(raw: bytes, stuffed: bytes) -> None:
    assert stuff(raw) == stuffed
    assert unstuff(stuffed) == raw


@given(st.binary(max_size=600))
def test_stuffing_round_trips_and_hides_the_delimiter(data: bytes) -> None:
    stuffed = stuff(data)
    assert 0xC0 not in stuffed
    assert len(stuffed) <= 2 * len(data)
    assert unstuff(stuffed) == data


@pytest.mark.parametrize("bad", [b"\xdb", b"a\xdb", b"\xdb\x00", b"\xdb\xdb\xdd"])
def test_a_stray_escape_is_a_typed_error(bad: bytes) -> None:
    with pytest.raises(StuffingError):
        unstuff(bad)


@given(st.lists(st.sampled_from([b"\xdb", b"\xdc", b"\xdd", b"\x00", b"\xdb\xdc"]), max_size=40))
def test_unstuffing_refuses_exactly_an_escape_in_no_pair(parts: list[bytes]) -> None:
    """The rule as written in RFC 1055 terms: every 0xDB begins a pair 0xDB 0xDC or 0xDB 0xDD."""
    chunk = b"".join(parts)
    valid = chunk.count(b"\xdb") == chunk.count(b"\xdb\xdc") + chunk.count(b"\xdb\xdd")
    if valid:
        assert stuff(unstuff(chunk)) == chunk
    else:
        with pytest.raises(StuffingError):
            unstuff(chunk)


plain_frames = st.builds(
    Frame,
    flags=st.sampled_from([Flags.NONE, Flags.REPLY, Flags.NOTIFICATION]),
    seq=st.integers(0, 0xFFFF),
    msg_type=st.integers(0, 0xFF),
    payload=st.binary(max_size=MAX_PAYLOAD_LEN),
    session_id=st.just(0),
    counter=st.just(0),
    tag=st.just(b""),
    signed=st.just(b""),
    version=st.sampled_from([1, 2]),  # 1: HELLO's header version (docs/protocol.md, §2)
)
auth_frames = st.builds(
    Frame,
    flags=st.sampled_from([Flags.AUTH, Flags.REPLY | Flags.AUTH]),
    seq=st.integers(0, 0xFFFF),
    msg_type=st.integers(0, 0xFF),
    payload=st.binary(max_size=MAX_PAYLOAD_LEN),
    session_id=st.integers(0, 2**32 - 1),
    counter=st.integers(0, 2**32 - 1),
    tag=st.binary(min_size=TAG_LEN, max_size=TAG_LEN),
    signed=st.just(b""),
    version=st.just(2),
)


def same(a: Frame, b: Frame) -> bool:
    fields = ("flags", "seq", "msg_type", "payload", "session_id", "counter", "tag", "version")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


@given(st.one_of(plain_frames, auth_frames))
def test_round_trip(frame: Frame) -> None:
    (decoded,) = FrameDecoder().feed(encode_frame(frame))
    assert isinstance(decoded, Frame)
    assert same(decoded, frame)


@given(st.one_of(plain_frames, auth_frames), st.binary(max_size=300), st.integers(1, 64))
def test_garbage_before_a_frame_costs_only_itself(frame: Frame, garbage: bytes, chunk: int) -> None:
    data = garbage + encode_frame(frame)
    decoder = FrameDecoder()
    events = []
    for start in range(0, len(data), chunk):  # arbitrary split points: a serial port's reads
        events += decoder.feed(data[start : start + chunk])
    assert isinstance(events[-1], Frame)
    assert same(events[-1], frame)
    assert all(isinstance(event, FrameError) for event in events[:-1])


@settings(max_examples=300)
@given(st.binary(max_size=4000))
def test_any_bytes_decode_to_events_with_bounded_memory(data: bytes) -> None:
    decoder = FrameDecoder()
    events = decoder.feed(data)
    assert all(isinstance(event, Frame | FrameError) for event in events)
    assert decoder.buffered <= MAX_STUFFED_LEN


def test_every_single_bit_flip_of_a_frame_is_detected() -> None:
    frame = encode_frame(Frame(Flags.AUTH, 0x1234, 0x10, b"\xc0\xdb\x00", 7, 9, bytes(8)))
    inner = frame[1:-1]
    for index in range(len(inner)):
        for bit in range(8):
            flipped = bytearray(inner)
            flipped[index] ^= 1 << bit
            events = FrameDecoder().feed(END_BYTE + bytes(flipped) + END_BYTE)
            assert events, (index, bit)
            assert all(isinstance(event, FrameError) for event in events), (index, bit)


def test_over_long_input_is_refused_once_then_decoder_recovers() -> None:
    decoder = FrameDecoder()
    events = decoder.feed(b"\x01" * (3 * MAX_STUFFED_LEN))
    assert [e.reason for e in events if isinstance(e, FrameError)] == [Reason.FRAME_TOO_LONG]
    assert decoder.buffered == 0
    frame = Frame(Flags.NONE, 1, 2, b"")
    (decoded,) = decoder.feed(b"more noise" + encode_frame(frame))
    assert isinstance(decoded, Frame)
    assert same(decoded, frame)


def body(text: str) -> bytes:
    return seal(bytes.fromhex(text)).strip(END_BYTE)


@pytest.mark.parametrize(
    ("chunk", "reason"),
    [
        (b"\x01\x02\x03", Reason.FRAME_TOO_SHORT),
        (body("02000001100000")[:-1] + b"\x00", Reason.BAD_CRC),
        (body("03000009020000"), Reason.UNSUPPORTED_VERSION),
        (body("02800001020000"), Reason.UNKNOWN_FLAGS),
        (body("0200000102000561"), Reason.BAD_LENGTH),
        (b"\x01\xdb\x02", Reason.BAD_FRAMING),
    ],
)
def test_broken_bodies_name_their_reason(chunk: bytes, reason: Reason) -> None:
    event = decode_body(chunk)
    assert isinstance(event, FrameError)
    assert event.reason is reason


def test_trusted_header_fields_are_kept_in_errors() -> None:
    event = decode_body(body("03000009020000"))
    assert isinstance(event, FrameError)
    assert (event.seq, event.msg_type) == (9, 2)


def test_oversized_payload_is_a_local_error() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        frame_body(0, 1, 1, bytes(MAX_PAYLOAD_LEN + 1))


def test_a_length_above_what_a_signed_frame_carries_is_bad_length() -> None:
    # docs/protocol.md, section 2: 0 to 487 for every frame, though an unsigned one has room.
    payload = bytes(MAX_PAYLOAD_LEN + 1)
    header = bytes([2, 0, 0, 9, 0x10]) + len(payload).to_bytes(2, "big")
    event = decode_body(seal(header + payload).strip(END_BYTE))
    assert isinstance(event, FrameError)
    assert event.reason is Reason.BAD_LENGTH
    assert (event.seq, event.msg_type) == (9, 0x10)


def test_a_frame_cut_after_a_crc_ending_0x00_passes_the_crc_and_names_its_seq() -> None:
    # docs/protocol.md, section 2: the CRC register after crc_hi is crc_lo << 8, zero when
    # crc_lo is 0x00, so the cut frame ends in a valid CRC; check 7 refuses it, with its seq.
    for seq in range(1, 5000):
        body = frame_body(0, seq, 0x10, b"\x01\x02")
        sealed = seal(body)
        if unstuff(sealed.strip(END_BYTE))[-1] == 0:
            break
    else:
        raise AssertionError("no CRC ending 0x00 in 5000 frames")
    cut = sealed.rstrip(END_BYTE)[:-1]
    result = decode_body(cut.lstrip(END_BYTE))
    assert isinstance(result, FrameError)
    assert result.reason is Reason.BAD_LENGTH
    assert result.seq == seq
