"""Frames per second through the sans-IO protocol, side by side with pymavlink.

Ours: an authenticated status reply (HMAC-SHA256 tag checked, counter checked, CRC, SLIP),
decoded by the programmer's connection object into a typed message; and encoded by the
pump's. Theirs: pymavlink parsing and packing an unsigned MAVLink 2 message of similar size.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

from protocol import (
    AlarmFlags,
    GetStatus,
    Hello,
    HelloReply,
    Keyring,
    Message,
    Mode,
    ProgrammerConnection,
    PumpConnection,
    PumpState,
    ReplyReceived,
    RequestReceived,
    Role,
    SessionTagger,
    StatusReply,
    encode_payload,
)
from protocol.frame import REPLY, signed_frame

COUNT = 20_000
SERIAL = "BENCH1"
STATUS = StatusReply(
    PumpState.INFUSING, Mode.FLEX, AlarmFlags.LOW_RESERVOIR, AlarmFlags.NONE, 300, 600_000,
    744_000, 500, 1_950, 9_000, 874_512, 40_000, 1_795_000_000, 1, 0,
)  # fmt: skip


def _session() -> tuple[PumpConnection, ProgrammerConnection, RequestReceived]:
    keyring = Keyring.generate(SERIAL)
    pump = PumpConnection(SERIAL, keyring.keys)
    programmer = ProgrammerConnection()

    def ask(message: Message) -> tuple[Message, RequestReceived | None]:
        _, data = programmer.request(message)
        pump.receive_data(data, 0)
        request = None
        for event in pump.events():
            if isinstance(event, RequestReceived):
                request = event
                pump.reply(
                    event,
                    HelloReply("B", SERIAL, "1.0.0", 1, 1, 1)
                    if isinstance(event.message, Hello)
                    else STATUS,
                )
        programmer.receive_data(pump.data_to_send())
        (reply,) = [e for e in programmer.events() if isinstance(e, ReplyReceived)]
        return reply.message, request

    ask(Hello())
    challenge, _ = ask(
        programmer.begin_session(Role.CLINICIAN, keyring.keys[Role.CLINICIAN], SERIAL, "bench")
    )
    ask(programmer.answer_challenge(challenge))  # type: ignore[arg-type]
    _, request = ask(GetStatus())
    assert request is not None
    return pump, programmer, request


def _best(run: Callable[[], None], repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return COUNT / best


@functools.cache  # one measurement serves both the decode and the encode line
def ours() -> tuple[float, float, int]:
    pump, programmer, request = _session()
    tag = SessionTagger(bytes(32)).tag

    def encode() -> None:  # what pymavlink's pack does, plus the HMAC tag and stuffing
        for counter in range(COUNT):
            signed_frame(REPLY, 7, STATUS.TYPE, encode_payload(STATUS), 1, counter, tag)

    encode_rate = _best(encode)
    frames = []
    for _ in range(COUNT * 5):
        pump.reply(request, STATUS)
        frames.append(pump.data_to_send())
    batches = iter([frames[i * COUNT : (i + 1) * COUNT] for i in range(5)])

    def decode() -> None:
        for data in next(batches):
            programmer.receive_data(data)
            for event in programmer.events():
                assert isinstance(event, ReplyReceived)

    decode_rate = _best(decode)
    return decode_rate, encode_rate, len(frames[0])


@functools.cache
def theirs() -> tuple[float, float, int] | None:
    os.environ.setdefault("MAVLINK20", "1")
    try:
        from pymavlink.dialects.v20 import common as mavlink2
    except ImportError:
        return None

    class Sink:
        def write(self, data: bytes) -> None:
            pass

    sender: Any = mavlink2.MAVLink(Sink(), srcSystem=1, srcComponent=1)
    message = mavlink2.MAVLink_gps_raw_int_message(
        1_795_000_000_000, 3, 515_000_000, -1_000_000, 120_000, 90, 110, 1_500, 27_000, 12,
        130_000, 1_000, 2_000, 3_000, 4_000, 9_000,
    )  # fmt: skip
    frame = message.pack(sender)
    parser: Any = mavlink2.MAVLink(None)

    def decode() -> None:
        for _ in range(COUNT):
            parser.parse_char(frame)

    def encode() -> None:
        for _ in range(COUNT):
            message.pack(sender)

    return _best(decode), _best(encode), len(frame)


def bench_decode() -> str:
    decode_ours, _, size_ours = ours()
    mav = theirs()
    line = f"protocol decode, authenticated status reply ({size_ours} B): {decode_ours:,.0f}/s"
    if mav is None:
        return line + "; pymavlink not installed (make bench installs it)"
    return (
        f"{line} | pymavlink MAVLink 2 GPS_RAW_INT ({mav[2]} B, unsigned): {mav[0]:,.0f}/s"
        f" | ratio {decode_ours / mav[0]:.2f} (target >= 1)"
    )


def bench_encode() -> str:
    _, encode_ours, size_ours = ours()
    mav = theirs()
    line = f"protocol encode, authenticated status reply ({size_ours} B): {encode_ours:,.0f}/s"
    if mav is None:
        return line + "; pymavlink not installed (make bench installs it)"
    return (
        f"{line} | pymavlink pack: {mav[1]:,.0f}/s | ratio {encode_ours / mav[1]:.2f} (target >= 1)"
    )
