"""Frames per second through the codec, ours and pymavlink's, interleaved round by round.

Ours, encode: the pump's real reply path. An ``EmulatedDevice`` (a firmware-model pump behind
``PumpConnection``) with an open clinician session answers a GET_STATUS request: the status
read from the model, the reply's payload packed from it, tagged (HMAC-SHA256), framed (CRC,
SLIP) and queued, then taken as bytes, as ``emulator/device.py`` does for every request once
the request is decoded. Decode: the programmer's ``ProgrammerConnection`` takes those reply
frames (SLIP, CRC, session tag and counter checked, message decoded) into ``ReplyReceived``.

Theirs: pymavlink 2, GPS_RAW_INT (a payload near the size of our status reply's),
unsigned and signed (MAVLink 2 signing, a secret key at both ends: the parser verifies every
signature and its timestamp).

Where an encode goes (2-core machine, CPython 3.11, about 2.6 µs a reply; each part the
time the loop lost when it alone was stubbed out): the model's reading,
``Pump.status_reading`` in one call, 0.58 µs (of which its bigint divisions, volume, battery
and drug infused, about 0.2); the wire fields and their one ``struct`` pack, 0.35;
HMAC-SHA256, 0.62 (six hashlib calls on SessionTagger's keyed states); framing (header
pack, CRC-16 over 81 bytes at about 2 ns a byte, the escapes, the delimiters), 0.55;
dispatch, counters, the retransmission cache and the queue, 0.45. A decode, about 3.7 µs:
SLIP and frame checks 1.1 (CRC 0.19, unstuffing 0.3 when a byte is escaped), tag 0.63,
message 0.7, the rest the events and the counter window.

Issue 11's codec work, 5 interleaved rounds of 50,000 frames, before -> after: encode
236,576/s -> 357,000-365,000/s, 0.58 -> 0.84-0.85 of pymavlink's unsigned pack
(420,000-434,000/s) and 0.81 -> 1.20-1.23 of its signed pack; decode 212,845/s ->
259,000-261,000/s, 1.15 -> 1.38-1.41 of unsigned parse and 1.82-1.90 of signed parse. The
encode's 1.2 x unsigned pack (about 1.95 µs a frame) is not reached: the C calls alone (HMAC,
CRC, packs) take about 1.1 µs of it and the model's reading 0.58.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

from benchmarks.harness import interleave, median, rate, ratio_median
from benchmarks.settings import Settings
from emulator.device import EmulatedDevice, Identity
from firmware_model import Pump
from firmware_model.units import US_PER_S
from protocol import (
    GetStatus,
    Hello,
    HelloReply,
    Keyring,
    Message,
    ProgrammerConnection,
    ReplyReceived,
    RequestReceived,
    Role,
)

SERIAL = "BENCH00001"
CLOCK_START_S = 1_795_000_000


class _Ours:
    """A pump with a session open, holding one decoded GET_STATUS request to answer."""

    def __init__(self) -> None:
        keys = Keyring.generate(SERIAL, random.Random(1).randbytes)
        pump = Pump()
        pump.set_clock(CLOCK_START_S * US_PER_S)
        pump.refill(20_000_000, 500)
        pump.set_dose(200)
        self.device = EmulatedDevice(pump, Identity(serial_number=SERIAL), keys)
        self.programmer = ProgrammerConnection()
        assert isinstance(self._ask(Hello()), HelloReply)
        key = keys.keys[Role.CLINICIAN]
        challenge = self._ask(self.programmer.begin_session(Role.CLINICIAN, key, SERIAL, "bench"))
        self._ask(self.programmer.answer_challenge(challenge))  # type: ignore[arg-type]
        _, data = self.programmer.request(GetStatus())
        connection = self.device.connection
        connection.receive_data(data, 0)
        request = next(iter(connection.events()))  # read no further: it is unanswered
        assert isinstance(request, RequestReceived)
        self.request = request
        self.frames: list[bytes] = []

    def _ask(self, message: Message) -> Message:
        _, data = self.programmer.request(message)
        self.programmer.receive_data(self.device.receive(data, 0, 0))
        (reply,) = [e for e in self.programmer.events() if isinstance(e, ReplyReceived)]
        return reply.message

    def encode(self, count: int) -> None:
        """``count`` status replies through the device's request handling to bytes."""
        execute = self.device._execute  # the device's own step after decoding a request
        take = self.device.connection.data_to_send
        request = self.request
        frames: list[bytes] = []
        append = frames.append
        for _ in range(count):
            execute(request)
            append(take())
        self.frames = frames

    def decode(self) -> None:
        receive = self.programmer.receive_data
        events = self.programmer.events
        for data in self.frames:
            receive(data)
            for event in events():
                if not isinstance(event, ReplyReceived):
                    raise RuntimeError(f"our reply did not decode: {event}")


class _Theirs:
    def __init__(self) -> None:
        os.environ.setdefault("MAVLINK20", "1")
        from pymavlink.dialects.v20 import common as mavlink2

        class Sink:
            def write(self, data: bytes) -> None:
                pass

        self.sender: Any = mavlink2.MAVLink(Sink(), srcSystem=1, srcComponent=1)
        self.message: Any = mavlink2.MAVLink_gps_raw_int_message(
            1_795_000_000_000, 3, 515_000_000, -1_000_000, 120_000, 90, 110, 1_500, 27_000,
            12, 130_000, 1_000, 2_000, 3_000, 4_000, 9_000,
        )  # fmt: skip
        self.frame = self.message.pack(self.sender)
        self.parser: Any = mavlink2.MAVLink(None)
        secret = bytes(range(1, 33))
        self.signed_sender: Any = mavlink2.MAVLink(Sink(), srcSystem=1, srcComponent=1)
        self.signed_sender.signing.secret_key = secret
        self.signed_sender.signing.sign_outgoing = True
        self.signed_sender.signing.timestamp = 1
        self.signed_parser: Any = mavlink2.MAVLink(None)
        self.signed_parser.signing.secret_key = secret
        self.signed_frames: list[bytes] = []
        self.payload_bytes = len(self.frame) - 12  # header 10, CRC 2

    def parse(self, count: int) -> None:
        parse = self.parser.parse_char
        frame = self.frame
        for _ in range(count):
            parse(frame)

    def pack(self, count: int) -> None:
        pack = self.message.pack
        sender = self.sender
        for _ in range(count):
            pack(sender)

    def signed_pack(self, count: int) -> None:
        pack = self.message.pack
        sender = self.signed_sender
        self.signed_frames = [pack(sender) for _ in range(count)]

    def signed_parse(self) -> None:
        parse = self.signed_parser.parse_char
        good = self.signed_parser.signing.goodsig_count
        for frame in self.signed_frames:
            parse(frame)
        if self.signed_parser.signing.goodsig_count - good != len(self.signed_frames):
            raise RuntimeError("pymavlink did not verify every signature")


def bench_codec(settings: Settings) -> dict[str, float]:
    count = settings.codec_frames
    ours = _Ours()
    theirs = _Theirs()
    phases: list[tuple[str, Callable[[], float]]] = [
        ("encode", lambda: rate(count, lambda: ours.encode(count))),
        ("pack", lambda: rate(count, lambda: theirs.pack(count))),
        ("signed_pack", lambda: rate(count, lambda: theirs.signed_pack(count))),
        ("decode", lambda: rate(count, ours.decode)),  # the frames just encoded
        ("parse", lambda: rate(count, lambda: theirs.parse(count))),
        ("signed_parse", lambda: rate(count, theirs.signed_parse)),
    ]
    print("codec: ours and pymavlink's", flush=True)
    runs = interleave(phases, settings.rounds)
    return {
        "codec_decode_frames_per_s": median(runs["decode"]),
        "codec_encode_frames_per_s": median(runs["encode"]),
        "pymavlink_parse_frames_per_s": median(runs["parse"]),
        "pymavlink_pack_frames_per_s": median(runs["pack"]),
        "pymavlink_signed_parse_frames_per_s": median(runs["signed_parse"]),
        "pymavlink_signed_pack_frames_per_s": median(runs["signed_pack"]),
        "decode_vs_pymavlink": ratio_median(runs["decode"], runs["parse"]),
        "decode_vs_pymavlink_signed": ratio_median(runs["decode"], runs["signed_parse"]),
        "encode_vs_pymavlink": ratio_median(runs["encode"], runs["pack"]),
        "encode_vs_pymavlink_signed": ratio_median(runs["encode"], runs["signed_pack"]),
        "status_reply_frame_bytes": float(len(ours.frames[0])),
        "pymavlink_frame_bytes": float(len(theirs.frame)),
    }
