"""Fuzz the pump's end of the link with atheris: any bytes, never anything but typed events.

Half the inputs are fed as they are (two arbitrary pieces) to a pump connection that has a
session open; the other half become frames with a good CRC, and often a good tag, so that
the fuzzer reaches the message decoders and the session logic behind the frame checks.
A crash is any exception at all; atheris keeps the input that caused it. At exit the run
prints inputs tried and failures.
"""

from __future__ import annotations

import atexit
import contextlib
import random
import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports():
    from protocol import (
        Frame,
        FrameDecoder,
        Keyring,
        MessageError,
        MessageType,
        ProgrammerConnection,
        PumpConnection,
        ReplyReceived,
        RequestReceived,
        Role,
        StatusReply,
        decode_message,
    )
    from protocol.frame import AUTH, MAX_STUFFED_LEN, frame_body, seal, signed_frame

SERIAL = "FUZZ"
_rng = random.Random(1)
KEYS = Keyring.generate(SERIAL, _rng.randbytes)
STATS = {"inputs": 0, "frames": 0, "requests": 0}


def _open_session() -> tuple[PumpConnection, ProgrammerConnection]:
    pump = PumpConnection(SERIAL, KEYS.keys, random_bytes=_rng.randbytes)
    programmer = ProgrammerConnection(random_bytes=_rng.randbytes)

    def ask(message: object) -> object:
        _, data = programmer.request(message)  # type: ignore[arg-type]
        pump.receive_data(data, 0)
        for event in pump.events():
            if isinstance(event, RequestReceived):
                raise AssertionError("no application request during the handshake")
        programmer.receive_data(pump.data_to_send())
        replies = [e for e in programmer.events() if isinstance(e, ReplyReceived)]
        return replies[0].message

    challenge = ask(
        programmer.begin_session(Role.CLINICIAN, KEYS.keys[Role.CLINICIAN], SERIAL, "fuzz")
    )
    ask(programmer.answer_challenge(challenge))  # type: ignore[arg-type]
    return pump, programmer


PUMP, _PROGRAMMER = _open_session()
REQUEST_TYPES = [int(t) for t in MessageType if t < MessageType.ALARM_NOTIFICATION]
STATUS = StatusReply(1, 1, 0, 0, 200, 400_000, 400_000, 500, 19_000, 1, 999_000, 37_000, 1, 1, 0)  # type: ignore[arg-type]


def _session() -> tuple[int, int, Callable[[bytes], bytes]]:
    """The open session (reopened if a fuzzed SESSION_CLOSE ended it): id, last counter, tag."""
    global PUMP, _PROGRAMMER
    state = PUMP._session
    if state is None:
        PUMP, _PROGRAMMER = _open_session()
        state = PUMP._session
        assert state is not None
    return state.session_id, state.rx_counter, state.tagger.tag


def framed(data: bytes) -> bytes:
    """Bytes made into a frame the CRC accepts, and when AUTH is set one the session's tag
    and counter accept too (or an old counter: copies, replays): flags, type and payload
    from data, so the fuzzer reaches the message decoders and the window behind the checks."""
    provider = atheris.FuzzedDataProvider(data)
    flags = AUTH if provider.ConsumeBool() else provider.ConsumeIntInRange(0, 7)
    if provider.ConsumeBool():  # mostly types a request can have, so decoders are reached
        msg_type = REQUEST_TYPES[provider.ConsumeIntInRange(0, len(REQUEST_TYPES) - 1)]
    else:
        msg_type = provider.ConsumeIntInRange(0, 0x80)
    step = provider.ConsumeIntInRange(-12, 3)
    payload = provider.ConsumeBytes(provider.ConsumeIntInRange(0, 120))
    seq = provider.ConsumeIntInRange(0, 0xFFFF)
    if flags & AUTH:
        session_id, last, tag = _session()
        return signed_frame(flags, seq, msg_type, payload, session_id, max(0, last + step), tag)
    return seal(frame_body(flags, seq, msg_type, payload))


def test_one_input(data: bytes) -> None:
    STATS["inputs"] += 1
    if data and data[0] & 1:
        data = framed(data[1:])
    split = data[0] % (len(data) + 1) if data else 0
    for piece in (data[:split], data[split:]):
        PUMP.receive_data(piece, 0)
        for event in PUMP.events():
            if isinstance(event, RequestReceived):
                STATS["requests"] += 1
                PUMP.reply(event, STATUS)
        PUMP.data_to_send()
    decoder = FrameDecoder()
    for item in decoder.feed(data):
        if isinstance(item, Frame):
            STATS["frames"] += 1
            with contextlib.suppress(MessageError):
                decode_message(item)
    assert decoder.buffered <= MAX_STUFFED_LEN


def _report() -> None:
    print(
        f"fuzz: {STATS['inputs']} inputs tried, {STATS['frames']} decodable frames, "
        f"{STATS['requests']} requests reached the application, 0 failures",
        flush=True,
    )


def main() -> None:
    atexit.register(_report)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
