"""Hand-made frames for robustness tests: what a noisy line or a broken programmer sends."""

from __future__ import annotations

import binascii

from protocol import Flags, Frame, Message, encode_frame, encode_payload
from protocol.frame import seal
from protocol.stuffing import END_BYTE, stuff, unstuff


def request_frame(seq: int, message: Message) -> bytes:
    """An unsigned request, as sent before a session."""
    return encode_frame(Frame(Flags.NONE, seq, int(message.TYPE), encode_payload(message)))


def raw_request_frame(seq: int, msg_type: int, payload: bytes) -> bytes:
    return encode_frame(Frame(Flags.NONE, seq, msg_type, payload))


def with_bit_flipped(frame: bytes, body_offset: int, bit: int = 0) -> bytes:
    """The same frame with one bit of its body flipped, re-stuffed, CRC left stale.

    This is a line error that the stuffing cannot see: only the CRC stands in its way.
    """
    body = bytearray(unstuff(frame.strip(END_BYTE)))
    body[body_offset] ^= 1 << bit
    return END_BYTE + stuff(bytes(body)) + END_BYTE


def truncated(frame: bytes, drop: int) -> bytes:
    """The frame with its last ``drop`` stuffed bytes lost, delimiter kept."""
    return frame.rstrip(END_BYTE)[:-drop] + END_BYTE


def passes_crc(frame: bytes) -> bool:
    """Whether a delimited frame's bytes still end in a valid CRC (docs/protocol.md, section 2:
    a frame cut after a CRC ending 0x00 does)."""
    try:
        body = unstuff(frame.strip(END_BYTE))
    except ValueError:
        return False
    return len(body) > 2 and not binascii.crc_hqx(body, 0xFFFF)


def resealed(body: bytes) -> bytes:
    """A body with a fresh CRC: what an attacker who edits a frame would send."""
    return seal(body)
