"""Frames: the unit the link carries, and a total decoder that finds them in any byte stream.

Wire form of one frame::

    0x00 | COBS( version:u8 | flags:u8 | seq:u16be | type:u8 | length:u16be | payload
                 | crc16:u16be ) | 0x00

The leading delimiter ends whatever noise preceded the frame, so noise costs only itself.
The decoder never raises on input: every byte string becomes frames and `FrameError` events,
and it holds at most `MAX_ENCODED_LEN` bytes however long the input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntFlag

from protocol.cobs import CobsDecodeError, cobs_decode, cobs_encode
from protocol.crc import crc16_ccitt_false
from protocol.reasons import Reason

PROTOCOL_VERSION = 1
DELIMITER = b"\x00"
HEADER = struct.Struct(">BBHBH")
HEADER_LEN = HEADER.size  # 7
CRC_LEN = 2
MIN_FRAME_LEN = HEADER_LEN + CRC_LEN
MAX_FRAME_LEN = 512  # decoded frame, header and CRC included
MAX_PAYLOAD_LEN = MAX_FRAME_LEN - MIN_FRAME_LEN
# COBS adds one byte per 254 plus one; delimiters are not counted.
MAX_ENCODED_LEN = MAX_FRAME_LEN + MAX_FRAME_LEN // 254 + 1
SEQ_MODULUS = 1 << 16
NO_SEQ = 0  # sequence 0 is never used by a request; frame-level errors reply with it


class Flags(IntFlag):
    NONE = 0
    REPLY = 0x01  # sent by the pump in answer to a request
    NOTIFICATION = 0x02  # sent by the pump unprompted


KNOWN_FLAGS_MASK = int(Flags.REPLY | Flags.NOTIFICATION)


@dataclass(frozen=True, slots=True)
class Frame:
    flags: Flags
    seq: int
    msg_type: int
    payload: bytes
    version: int = PROTOCOL_VERSION

    @property
    def is_request(self) -> bool:
        return not self.flags & (Flags.REPLY | Flags.NOTIFICATION)


@dataclass(frozen=True, slots=True)
class FrameError:
    """A delimited chunk of bytes that is not a usable frame.

    ``seq`` and ``msg_type`` are only set when the header passed the CRC and can be trusted.
    """

    reason: Reason
    detail: str
    seq: int = NO_SEQ
    msg_type: int = 0


def encode_frame(frame: Frame) -> bytes:
    if len(frame.payload) > MAX_PAYLOAD_LEN:
        raise ValueError(f"payload of {len(frame.payload)} bytes exceeds {MAX_PAYLOAD_LEN}")
    header = HEADER.pack(frame.version, frame.flags, frame.seq, frame.msg_type, len(frame.payload))
    body = header + frame.payload
    body += crc16_ccitt_false(body).to_bytes(2, "big")
    return DELIMITER + cobs_encode(body) + DELIMITER


def decode_body(encoded: bytes | bytearray) -> Frame | FrameError:
    """Decode the bytes found between two delimiters."""
    if len(encoded) > MAX_ENCODED_LEN:
        return FrameError(Reason.FRAME_TOO_LONG, f"{len(encoded)} encoded bytes")
    try:
        body = cobs_decode(encoded)
    except CobsDecodeError as exc:
        return FrameError(Reason.BAD_FRAMING, str(exc))
    if len(body) < MIN_FRAME_LEN:
        return FrameError(Reason.FRAME_TOO_SHORT, f"{len(body)} bytes, need {MIN_FRAME_LEN}")
    if len(body) > MAX_FRAME_LEN:
        return FrameError(Reason.FRAME_TOO_LONG, f"{len(body)} bytes, limit {MAX_FRAME_LEN}")
    received_crc = int.from_bytes(body[-CRC_LEN:], "big")
    computed_crc = crc16_ccitt_false(memoryview(body)[:-CRC_LEN])
    if received_crc != computed_crc:
        return FrameError(
            Reason.BAD_CRC, f"CRC 0x{received_crc:04X}, computed 0x{computed_crc:04X}"
        )
    version, flags, seq, msg_type, length = HEADER.unpack_from(body)
    if version != PROTOCOL_VERSION:
        return FrameError(
            Reason.UNSUPPORTED_VERSION,
            f"version {version}, this end speaks {PROTOCOL_VERSION}",
            seq,
            msg_type,
        )
    if length != len(body) - MIN_FRAME_LEN:
        return FrameError(
            Reason.BAD_LENGTH,
            f"length field {length}, payload has {len(body) - MIN_FRAME_LEN} bytes",
            seq,
            msg_type,
        )
    if flags & ~KNOWN_FLAGS_MASK:
        return FrameError(Reason.UNKNOWN_FLAGS, f"flags 0x{flags:02X}", seq, msg_type)
    return Frame(Flags(flags), seq, msg_type, body[HEADER_LEN:-CRC_LEN], version)


class FrameDecoder:
    """Splits a byte stream into frames; bounded memory, never raises on input."""

    def __init__(self) -> None:
        self._partial = bytearray()
        self._discarding = False  # inside an over-long chunk: skip to the next delimiter

    @property
    def buffered(self) -> int:
        return len(self._partial)

    def feed(self, data: bytes | bytearray) -> list[Frame | FrameError]:
        events: list[Frame | FrameError] = []
        start = 0
        end = len(data)
        while start <= end:
            stop = data.find(0, start)
            if stop < 0:
                self._accumulate(data, start, end, events)
                break
            self._accumulate(data, start, stop, events)
            if self._discarding:
                self._discarding = False
            elif self._partial:
                events.append(decode_body(self._partial))
            self._partial.clear()
            start = stop + 1
        return events

    def _accumulate(
        self, data: bytes | bytearray, start: int, stop: int, events: list[Frame | FrameError]
    ) -> None:
        if self._discarding or start == stop:
            return
        if len(self._partial) + (stop - start) > MAX_ENCODED_LEN:
            events.append(
                FrameError(Reason.FRAME_TOO_LONG, f"more than {MAX_ENCODED_LEN} encoded bytes")
            )
            self._partial.clear()
            self._discarding = True
            return
        self._partial += data[start:stop]
