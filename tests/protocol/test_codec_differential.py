"""The codec's fast paths against the general ones, over arbitrary values (issue 11 review).

``reply_payload`` writes ``signed_frame`` and ``stuff`` out inline, ``unstuff`` checks its
escapes by a length, and the programmer checks a reply's tag written out: here each is held
to the general path (or to RFC 1055 decoded one byte at a time) for every header, counter,
session, payload and tag, escape bytes and extremes included.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import FrameDropped, GetStatus, ReplyReceived, RequestReceived, StatusReply
from protocol.frame import (
    AUTH,
    MAX_PAYLOAD_LEN,
    REPLY,
    Frame,
    FrameDecoder,
    decode_body,
    seal,
    signed_frame,
)
from protocol.reasons import Reason
from protocol.stuffing import StuffingError, stuff, unstuff
from tests.test_link_fast_paths import _session

SETTINGS = settings(max_examples=150, deadline=None)
pytestmark = pytest.mark.timeout(30)

# Values whose bytes need escaping, and the extremes of each width.
u16 = st.one_of(st.sampled_from([1, 0xC0, 0xDB, 0xC0DB, 0xDBC0, 0xFFFF]), st.integers(1, 0xFFFF))
u32 = st.one_of(
    st.sampled_from([0, 1, 0xC0, 0xDB, 0xC0C0C0C0, 0xDBDBDBDB, 0xC0DBC0DB, 0xFFFF_FFFF]),
    st.integers(0, 0xFFFF_FFFF),
)
escapes = st.binary(max_size=MAX_PAYLOAD_LEN).map(
    lambda b: bytes(0xC0 if x % 3 == 0 else 0xDB if x % 3 == 1 else x for x in b)
)
payloads = st.one_of(
    st.binary(max_size=MAX_PAYLOAD_LEN),
    escapes,
    st.sampled_from([b"", bytes([0xC0]) * MAX_PAYLOAD_LEN, bytes([0xDB]) * MAX_PAYLOAD_LEN]),
)


def rfc1055_unstuff(chunk: bytes) -> bytes:
    """SLIP decoding one byte at a time, as RFC 1055 writes it."""
    out = bytearray()
    it = iter(chunk)
    for byte in it:
        if byte == 0xDB:
            code = next(it, None)
            if code == 0xDC:
                out.append(0xC0)
            elif code == 0xDD:
                out.append(0xDB)
            else:
                raise StuffingError("stray escape")
        else:
            out.append(byte)
    return bytes(out)


@SETTINGS
@given(st.lists(st.sampled_from([0x00, 0xDB, 0xDC, 0xDD, 0x41]), max_size=60).map(bytes))
def test_unstuff_is_rfc1055_one_byte_at_a_time(chunk: bytes) -> None:
    try:
        expected: bytes | None = rfc1055_unstuff(chunk)
    except StuffingError:
        expected = None
    if expected is None:
        with pytest.raises(StuffingError):
            unstuff(chunk)
    else:
        assert unstuff(chunk) == expected


@SETTINGS
@given(st.binary(max_size=1100))
def test_stuff_then_unstuff_is_the_identity_and_leaves_no_delimiter(body: bytes) -> None:
    stuffed = stuff(body)
    assert 0xC0 not in stuffed
    assert unstuff(stuffed) == body
    assert stuffed == body.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")


@SETTINGS
@given(seq=u16, msg_type=st.integers(0, 255), payload=payloads, session_id=u32, tx=u32, rx=u32)
def test_reply_payload_is_signed_frame_byte_for_byte(
    seq: int, msg_type: int, payload: bytes, session_id: int, tx: int, rx: int
) -> None:
    """Every field at any value: the inline frame is ``signed_frame``'s, it decodes to what
    was sent whole and split at every byte, and its tag verifies under the session."""
    pump, _ = _session()
    session = pump._session
    assert session is not None
    session.session_id = session_id or 1
    session.tx_counter = tx - 1 if tx else 0  # the reply is signed under counter ``tx``
    counter = session.tx_counter + 1
    frame = Frame(AUTH, seq, int(GetStatus.TYPE), b"", session.session_id, rx, b"\0" * 8)
    request = RequestReceived(seq, GetStatus(), session.role, frame, session.session_id)
    pump.reply_payload(request, msg_type, payload)
    data = pump.data_to_send()
    expected = signed_frame(
        REPLY | AUTH, seq, msg_type, payload, session.session_id, counter, session.tagger.tag
    )
    assert data == expected
    assert session.tx_counter == counter
    assert data[0] == data[-1] == 0xC0
    assert 0xC0 not in data[1:-1]
    decoded = decode_body(data[1:-1])
    assert isinstance(decoded, Frame)
    assert (decoded.flags, decoded.seq, decoded.msg_type, decoded.payload) == (
        REPLY | AUTH,
        seq,
        msg_type,
        payload,
    )
    assert (decoded.session_id, decoded.counter) == (session.session_id, counter)
    assert decoded.tag == session.tagger.tag(decoded.signed)
    decoder = FrameDecoder()
    pieces = [item for i in range(len(data)) for item in decoder.feed(data[i : i + 1])]
    assert pieces == [decoded]
    assert FrameDecoder().feed(data + data) == [decoded, decoded]


@SETTINGS
@given(position=st.integers(0, 10_000), flip=st.integers(1, 255), fields=st.data())
def test_the_programmer_takes_a_reply_only_with_every_signed_byte_intact(
    position: int, flip: int, fields: st.DataObject
) -> None:
    """One byte changed anywhere in header, counter, session, payload or tag (the CRC made
    good again): the programmer's inline tag check drops it; unchanged, it is taken once."""
    pump, programmer = _session()
    payload = fields.draw(st.binary(min_size=StatusReply.FAST.size, max_size=StatusReply.FAST.size))  # type: ignore[union-attr]
    seq, request_bytes = programmer.request(GetStatus())
    pump.receive_data(request_bytes, 0)
    request = next(iter(pump.events()))
    assert isinstance(request, RequestReceived)
    pump.reply_payload(request, int(StatusReply.TYPE), payload)
    data = pump.data_to_send()
    frame = decode_body(data[1:-1])
    assert isinstance(frame, Frame)
    body = bytearray(frame.signed + frame.tag)
    index = position % len(body)
    body[index] ^= flip
    tampered = seal(bytes(body))
    events = programmer.receive_events(tampered)
    assert len(events) == 1
    assert isinstance(events[0], FrameDropped)
    if index >= 15:  # past header, session and counter: only the tag can tell
        assert events[0].reason is Reason.BAD_TAG
    events = programmer.receive_events(data)
    assert len(events) == 1
    if isinstance(events[0], ReplyReceived):
        assert events[0].seq == seq
        assert events[0].authenticated
    else:  # random state or mode codes: the tag held, the payload did not
        assert isinstance(events[0], FrameDropped)
        assert events[0].reason is Reason.BAD_PAYLOAD
