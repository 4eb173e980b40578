"""Hand-made frames for robustness tests: what a noisy line or a broken programmer sends."""

from __future__ import annotations

from protocol import Flags, Frame, Message, encode_frame, encode_payload
from protocol.cobs import cobs_decode, cobs_encode
from protocol.frame import DELIMITER


def request_frame(seq: int, message: Message) -> bytes:
    return encode_frame(Frame(Flags.NONE, seq, int(message.TYPE), encode_payload(message)))


def raw_request_frame(seq: int, msg_type: int, payload: bytes) -> bytes:
    return encode_frame(Frame(Flags.NONE, seq, msg_type, payload))


def with_bit_flipped(frame: bytes, body_offset: int, bit: int = 0) -> bytes:
    """The same frame with one bit of its body flipped, properly re-stuffed, CRC left stale.

    This is a line error that COBS cannot see, so only the CRC stands between it and the pump.
    """
    body = bytearray(cobs_decode(frame.strip(DELIMITER)))
    body[body_offset] ^= 1 << bit
    return DELIMITER + cobs_encode(bytes(body)) + DELIMITER


def truncated(frame: bytes, drop: int) -> bytes:
    """The frame with its last ``drop`` encoded bytes lost, delimiter kept."""
    return frame.rstrip(DELIMITER)[:-drop] + DELIMITER
