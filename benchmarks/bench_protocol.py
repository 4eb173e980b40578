"""Frames per second through the sans-IO protocol: a status reply, decoded and encoded."""

from benchmarks.timing import best_rate
from protocol import (
    AlarmFlags,
    FrameDecoder,
    Kind,
    PumpState,
    StatusReply,
    decode_message,
    encode_payload,
)
from protocol.frame import Frame, encode_frame

STATUS = StatusReply(PumpState.INFUSING, AlarmFlags.NONE, 200, 400_000, 500, 19_000, 12, 3_600)
COUNT = 20_000


def _status_frame() -> bytes:
    return encode_frame(Frame(Kind.REPLY.flags, 7, int(STATUS.TYPE), encode_payload(STATUS)))


def bench_decode() -> str:
    data = _status_frame()
    decoder = FrameDecoder()

    def decode() -> None:
        (frame,) = decoder.feed(data)
        assert isinstance(frame, Frame)
        decode_message(frame)

    rate = best_rate(decode, COUNT)
    return f"protocol decode status reply ({len(data)} B on the wire): {rate:,.0f} frames/s"


def bench_encode() -> str:
    def encode() -> None:
        encode_frame(Frame(Kind.REPLY.flags, 7, int(STATUS.TYPE), encode_payload(STATUS)))

    rate = best_rate(encode, COUNT)
    return f"protocol encode status reply: {rate:,.0f} frames/s"
