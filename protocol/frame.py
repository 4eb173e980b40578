"""Frames: the unit the link carries, and a total decoder that finds them in any byte stream.

Wire form of one frame (docs/protocol.md, section 2)::

    0xC0 | stuff( header | [session | counter] | payload | [tag] | crc ) | 0xC0

    header  = version:u8  flags:u8  seq:u16  type:u8  length:u16      (big-endian)
    version = 2; 1 only for HELLO and the reply to a version-1 request (docs/protocol.md §2)
    session = u32, counter = u32, tag = 8 bytes: present when flags has AUTH
    crc     = CRC-16/CCITT-FALSE over everything before it

The decoder never raises on input: every byte string becomes frames and ``FrameError``
events, and it holds at most ``MAX_STUFFED_LEN`` bytes however long the input.
"""

from __future__ import annotations

import struct
from binascii import crc_hqx
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntFlag
from typing import NamedTuple

from protocol.reasons import Reason
from protocol.stuffing import END_BYTE, ESC, StuffingError, stuff, unstuff

PROTOCOL_VERSION = 2
HELLO_VERSION = 1  # HELLO travels in version 1 so that any pump, old or new, can answer it
KNOWN_VERSIONS = frozenset({HELLO_VERSION, PROTOCOL_VERSION})
HEADER = struct.Struct(">BBHBH")
AUTH_HEADER = struct.Struct(">II")
HEADER_LEN = HEADER.size  # 7
AUTH_HEADER_LEN = AUTH_HEADER.size  # 8
TAG_LEN = 8  # HMAC-SHA256 truncated to 64 bits
CRC_LEN = 2
MIN_FRAME_LEN = HEADER_LEN + CRC_LEN
MAX_FRAME_LEN = 512  # unstuffed body, header to CRC
MAX_PAYLOAD_LEN = MAX_FRAME_LEN - MIN_FRAME_LEN - AUTH_HEADER_LEN - TAG_LEN  # 487
MAX_STUFFED_LEN = 2 * MAX_FRAME_LEN  # every byte escaped, delimiters excluded
SEQ_MODULUS = 1 << 16
NO_SEQ = 0  # never used by a request: replies to unreadable frames, and notifications
CRC_INIT = 0xFFFF
SIGNED_HEADER = struct.Struct(">BBHBHII")  # header and auth header in one (un)pack
_AUTH_MIN_LEN = HEADER_LEN + AUTH_HEADER_LEN + TAG_LEN + CRC_LEN


class Flags(IntFlag):
    NONE = 0
    REPLY = 0x01  # sent by the pump in answer to a request
    NOTIFICATION = 0x02  # sent by the pump unprompted
    AUTH = 0x04  # session, counter and tag present


# The same bits as plain ints, for the hot paths (IntFlag arithmetic is slow).
REPLY = int(Flags.REPLY)
NOTIFICATION = int(Flags.NOTIFICATION)
AUTH = int(Flags.AUTH)
DIRECTION_MASK = REPLY | NOTIFICATION
KNOWN_FLAGS_MASK = REPLY | NOTIFICATION | AUTH


class Frame(NamedTuple):
    flags: int
    seq: int
    msg_type: int
    payload: bytes
    session_id: int = 0
    counter: int = 0
    tag: bytes = b""
    signed: bytes = b""  # decoded frames: header to end of payload (what a tag covers)
    version: int = PROTOCOL_VERSION

    @property
    def is_request(self) -> bool:
        return not self.flags & DIRECTION_MASK

    @property
    def authenticated(self) -> bool:
        return bool(self.flags & AUTH)


# ``Frame(...)`` for all nine fields without the keyword-handling ``__new__``: what
# ``Frame._make`` does, for the decoder's hot path.
_new_frame: Callable[[type[Frame], tuple[object, ...]], Frame] = tuple.__new__


@dataclass(frozen=True, slots=True)
class FrameError:
    """A delimited chunk of bytes that is not a usable frame.

    ``seq`` and ``msg_type`` are only set when the header passed the CRC and can be trusted.
    """

    reason: Reason
    detail: str
    seq: int = NO_SEQ
    msg_type: int = 0


def frame_body(
    flags: int,
    seq: int,
    msg_type: int,
    payload: bytes,
    session_id: int = 0,
    counter: int = 0,
    version: int = PROTOCOL_VERSION,
) -> bytes:
    """The bytes a tag covers; append the tag (if any) and seal with ``seal``."""
    if len(payload) > MAX_PAYLOAD_LEN:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_LEN}")
    header = HEADER.pack(version, flags, seq, msg_type, len(payload))
    if flags & AUTH:
        return header + AUTH_HEADER.pack(session_id, counter) + payload
    return header + payload


def seal(body: bytes) -> bytes:
    """Add the CRC, stuff, and delimit on both sides: bytes ready for the wire."""
    body += crc_hqx(body, CRC_INIT).to_bytes(2, "big")
    return END_BYTE + stuff(body) + END_BYTE


def signed_frame(
    flags: int,
    seq: int,
    msg_type: int,
    payload: bytes,
    session_id: int,
    counter: int,
    tag: Callable[[bytes], bytes],
) -> bytes:
    """An authenticated frame ready for the wire: the encoder's hot path, in one pass."""
    if len(payload) > MAX_PAYLOAD_LEN:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_LEN}")
    signed = (
        SIGNED_HEADER.pack(
            PROTOCOL_VERSION, flags | AUTH, seq, msg_type, len(payload), session_id, counter
        )
        + payload
    )
    body = signed + tag(signed)
    return END_BYTE + stuff(body + crc_hqx(body, CRC_INIT).to_bytes(2, "big")) + END_BYTE


def signed_frame_with_tag(
    flags: int,
    seq: int,
    msg_type: int,
    payload: bytes,
    session_id: int,
    counter: int,
    tag: Callable[[bytes], bytes],
) -> tuple[bytes, bytes]:
    """``signed_frame``, and the tag it carries (what names a request for GET_OUTCOME)."""
    if len(payload) > MAX_PAYLOAD_LEN:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_LEN}")
    signed = (
        SIGNED_HEADER.pack(
            PROTOCOL_VERSION, flags | AUTH, seq, msg_type, len(payload), session_id, counter
        )
        + payload
    )
    tag_bytes = tag(signed)
    body = signed + tag_bytes
    data = END_BYTE + stuff(body + crc_hqx(body, CRC_INIT).to_bytes(2, "big")) + END_BYTE
    return data, tag_bytes


def encode_frame(frame: Frame) -> bytes:
    """A frame as given (tag included as is): for tests and tools."""
    body = frame_body(
        frame.flags,
        frame.seq,
        frame.msg_type,
        frame.payload,
        frame.session_id,
        frame.counter,
        frame.version,
    )
    return seal(body + frame.tag)


def decode_body(chunk: bytes) -> Frame | FrameError:
    """Decode the bytes found between two delimiters."""
    if len(chunk) > MAX_STUFFED_LEN:
        return FrameError(Reason.FRAME_TOO_LONG, f"{len(chunk)} stuffed bytes")
    body = chunk
    if ESC in chunk:  # an int: memchr
        try:
            body = unstuff(chunk)
        except StuffingError as exc:
            return FrameError(Reason.BAD_FRAMING, str(exc))
    size = len(body)
    if size < MIN_FRAME_LEN:
        return FrameError(Reason.FRAME_TOO_SHORT, f"{size} bytes, need {MIN_FRAME_LEN}")
    if size > MAX_FRAME_LEN:
        return FrameError(Reason.FRAME_TOO_LONG, f"{size} bytes, limit {MAX_FRAME_LEN}")
    # Over a frame with its own CRC appended, CRC-16/CCITT-FALSE leaves a residue of zero.
    if crc_hqx(body, CRC_INIT):
        crc = crc_hqx(body[:-CRC_LEN], CRC_INIT)
        return FrameError(
            Reason.BAD_CRC, f"CRC 0x{body[-2]:02X}{body[-1]:02X}, computed 0x{crc:04X}"
        )
    if size >= _AUTH_MIN_LEN:
        version, flags, seq, msg_type, length, session_id, counter = SIGNED_HEADER.unpack_from(body)
    else:
        version, flags, seq, msg_type, length = HEADER.unpack_from(body)
    if version not in KNOWN_VERSIONS:
        return FrameError(
            Reason.UNSUPPORTED_VERSION,
            f"header version {version}; this end speaks {PROTOCOL_VERSION} "
            f"(and {HELLO_VERSION} for HELLO)",
            seq,
            msg_type,
        )
    if flags & ~KNOWN_FLAGS_MASK:
        return FrameError(Reason.UNKNOWN_FLAGS, f"flags 0x{flags:02X}", seq, msg_type)
    if length > MAX_PAYLOAD_LEN:  # what a signed frame can carry: the limit for every frame
        return FrameError(
            Reason.BAD_LENGTH, f"length field {length}, limit {MAX_PAYLOAD_LEN}", seq, msg_type
        )
    if flags & AUTH:
        expected = length + MIN_FRAME_LEN + AUTH_HEADER_LEN + TAG_LEN
        if size != expected:
            return FrameError(
                Reason.BAD_LENGTH, f"length field {length}, frame {size} bytes", seq, msg_type
            )
        end = HEADER_LEN + AUTH_HEADER_LEN + length
        return _new_frame(
            Frame,
            (
                flags,
                seq,
                msg_type,
                body[HEADER_LEN + AUTH_HEADER_LEN : end],
                session_id,
                counter,
                body[end : end + TAG_LEN],
                body[:end],
                version,
            ),
        )
    if size != length + MIN_FRAME_LEN:
        return FrameError(
            Reason.BAD_LENGTH, f"length field {length}, frame {size} bytes", seq, msg_type
        )
    return _new_frame(
        Frame,
        (flags, seq, msg_type, body[HEADER_LEN:-CRC_LEN], 0, 0, b"", body[:-CRC_LEN], version),
    )


class FrameDecoder:
    """Splits a byte stream into frames; bounded memory, never raises on input."""

    def __init__(self) -> None:
        self._partial = b""
        self._discarding = False  # inside an over-long chunk: skip to the next delimiter

    @property
    def buffered(self) -> int:
        return len(self._partial)

    def feed(self, data: bytes | bytearray) -> list[Frame | FrameError]:
        if not isinstance(data, bytes):
            data = bytes(data)
        chunks = data.split(END_BYTE)
        if len(chunks) == 3 and not chunks[0] and not chunks[2] and not self._partial:
            if self._discarding:  # one whole frame, delimited both sides: the common case
                self._discarding = False
            return [decode_body(chunks[1])] if chunks[1] else []
        events: list[Frame | FrameError] = []
        if len(chunks) == 1:  # no delimiter: all of it belongs to the current chunk
            self._hold(chunks[0], events)
            return events
        first = self._partial + chunks[0]
        self._partial = b""
        if self._discarding:
            self._discarding = False
        elif first:
            events.append(decode_body(first))
        for chunk in chunks[1:-1]:
            if chunk:
                events.append(decode_body(chunk))
        self._hold(chunks[-1], events)
        return events

    def _hold(self, chunk: bytes, events: list[Frame | FrameError]) -> None:
        if self._discarding or not chunk:
            return
        if len(self._partial) + len(chunk) > MAX_STUFFED_LEN:
            events.append(
                FrameError(Reason.FRAME_TOO_LONG, f"more than {MAX_STUFFED_LEN} stuffed bytes")
            )
            self._partial = b""
            self._discarding = True
            return
        self._partial += chunk
