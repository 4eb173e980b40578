"""A million random and mutated inputs to every decoder on both ends of the link, in one process.

The seeds are the published test vectors (``protocol/vectors/v2.json``), both directions. Each
input is one of: bit flips, a truncation, a splice of two frames, a length field that lies
(CRC made good again so the lie reaches the length check), a stuffing error, random bytes,
a payload mutated behind a good CRC (so the message decoders see it), a header field mutated
behind a good CRC, or a payload mutated behind a good CRC *and* a good session tag and
counter (so the session logic and the decoders behind it see it).

Every input goes to a fresh ``FrameDecoder`` (the one-frame fast path), to one long-lived
decoder fed the whole stream, to ``decode_message`` for each frame found, and to the
connection of its direction: a ``PumpConnection`` with a clinician session open (requests
it hands up are answered, as the emulator would) or a ``ProgrammerConnection`` with one open
(replies, signed as the pump). A failure is any exception other than ``MessageError`` from
``decode_message`` (the connections and frame decoders may raise nothing at all), a decoder
holding more than a frame's worth of bytes, queues that are not drained, or resident memory
growing by more than ``MAX_RSS_GROWTH_MB`` after the first tenth of the run.

    python -m faults.decoder_inputs [INPUTS] [SEED]
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import protocol
from faults.memory import rss_mb
from protocol import (
    Frame,
    FrameDecoder,
    HelloReply,
    Keyring,
    Message,
    MessageError,
    ProgrammerConnection,
    PumpConnection,
    ReplyReceived,
    RequestReceived,
    Role,
    SessionChallenge,
    StatusReply,
    decode_message,
)
from protocol.frame import (
    AUTH,
    HEADER_LEN,
    MAX_PAYLOAD_LEN,
    MAX_STUFFED_LEN,
    frame_body,
    seal,
    signed_frame,
)
from protocol.messages import Hello
from protocol.stuffing import unstuff

SERIAL = "FUZZ0001"
VECTORS = Path(protocol.__file__).parent / "vectors" / "v2.json"
MAX_RSS_GROWTH_MB = 8.0  # after warm-up: a leak of 8 bytes an input would show as 7 MB
FULL_INPUTS = 1_000_000
QUICK_INPUTS = 60_000


@dataclass
class DecoderFigures:
    seed: int
    inputs: int = 0
    frames: int = 0  # inputs in which the decoder found at least one frame
    messages: int = 0  # frames that decoded into a message
    requests_handed_up: int = 0  # requests the pump connection gave the application
    replies_taken: int = 0  # replies the programmer connection accepted
    failures: int = 0
    rss_growth_mb: float = 0.0
    wall_seconds: float = 0.0
    by_mutator: dict[str, int] = field(default_factory=dict)
    to_programmer: dict[str, int] = field(default_factory=dict)  # of by_mutator: the other way
    examples: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {self.inputs} inputs ({self.frames} held a frame, "
            f"{self.messages} messages decoded, {self.requests_handed_up} requests reached "
            f"the pump's application, {self.replies_taken} replies the programmer's); "
            f"{self.failures} failures; memory grew {self.rss_growth_mb:.1f} MB; "
            f"{self.wall_seconds:.1f} s"
        )


# -- the seeds --------------------------------------------------------------------------


def load_seeds() -> tuple[list[bytes], list[bytes]]:
    """Frames from the vectors: (sent by a programmer, sent by the pump)."""
    vectors = json.loads(VECTORS.read_text())["vectors"]
    to_pump = [bytes.fromhex(v["hex"]) for v in vectors if v["from"] == "programmer"]
    to_programmer = [bytes.fromhex(v["hex"]) for v in vectors if v["from"] == "pump"]
    return to_pump, to_programmer


def frames_of(seeds: list[bytes]) -> list[Frame]:
    found: list[Frame] = []
    for data in seeds:
        found.extend(item for item in FrameDecoder().feed(data) if isinstance(item, Frame))
    return found


# -- the two ends, with a session open ----------------------------------------------------


class Ends:
    """A pump and a programmer connection with a clinician session between them, opened
    again whenever an input closes it (a fuzzed SESSION_CLOSE, a signed SessionClosed);
    and a second programmer connection halfway through opening one (it has answered a
    challenge and waits for the pump's proof), for the handshake's path."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.keys = Keyring.generate(SERIAL, rng.randbytes)
        self.now_us = 1_000_000
        self.pump_counter = 0  # the counter our forged pump replies use
        self.pump = PumpConnection(SERIAL, self.keys.keys, random_bytes=rng.randbytes)
        self.programmer = ProgrammerConnection(1, rng.randbytes)
        self.opening = ProgrammerConnection(1, rng.randbytes)
        self.open()
        self.start_opening()

    def start_opening(self) -> None:
        """A connection that answered a challenge and now waits for SessionOpened."""
        rng = self._rng
        self.opening = ProgrammerConnection(1, rng.randbytes)
        key = self.keys.keys[Role.CLINICIAN]
        self.opening.begin_session(Role.CLINICIAN, key, SERIAL, "fuzz")
        challenge = SessionChallenge(rng.getrandbits(32) or 1, rng.randbytes(16))
        self.opening.answer_challenge(challenge)

    def open(self) -> None:
        self.pump = PumpConnection(SERIAL, self.keys.keys, random_bytes=self._rng.randbytes)
        self.programmer = ProgrammerConnection(1, self._rng.randbytes)
        key = self.keys.keys[Role.CLINICIAN]
        challenge = self._ask(self.programmer.begin_session(Role.CLINICIAN, key, SERIAL, "fuzz"))
        self._ask(self.programmer.answer_challenge(challenge))  # type: ignore[arg-type]
        self.pump_counter = 1  # the pump signed SessionOpened with counter 1
        if self.programmer.session_role is None or self.pump.session_role is None:
            raise RuntimeError("the fuzzing pair could not open its session")

    def _ask(self, message: Message) -> Message:
        _, data = self.programmer.request(message)
        self.pump.receive_data(data, self.now_us)
        for _event in self.pump.events():
            pass
        self.programmer.receive_data(self.pump.data_to_send())
        for event in self.programmer.events():
            if isinstance(event, ReplyReceived):
                return event.message
        raise RuntimeError("the fuzzing pair's handshake went unanswered")

    def ensure_open(self) -> None:
        if self.programmer.session_role is None or self.pump.session_role is None:
            self.open()

    def sign_request(self, frame: Frame, payload: bytes, counter_step: int) -> bytes:
        """A request as our programmer would sign it: a fresh counter, or an old one."""
        self.ensure_open()
        session = self.programmer._session
        assert session is not None
        counter = max(0, session.tx_counter + counter_step)
        if counter_step > 0:
            session.tx_counter = counter
        return signed_frame(
            AUTH, frame.seq or 1, frame.msg_type, payload, session.session_id, counter,
            session.tagger.tag,
        )  # fmt: skip

    def sign_reply(self, frame: Frame, payload: bytes, counter_step: int) -> bytes:
        """A reply as the pump would sign it in this session (fresh counter, or an old one),
        or, one in four, in the session the other connection is opening."""
        self.ensure_open()
        flags = (frame.flags & ~AUTH) | AUTH
        handshake = self.opening._handshake
        if self._rng.random() < 0.25 and handshake is not None and handshake.tagger:
            return signed_frame(
                flags, frame.seq, frame.msg_type, payload, handshake.session_id,
                max(0, counter_step), handshake.tagger.tag,
            )  # fmt: skip
        session = self.programmer._session
        assert session is not None
        counter = max(0, self.pump_counter + counter_step)
        if counter_step > 0:
            self.pump_counter = counter
        return signed_frame(
            flags, frame.seq, frame.msg_type, payload, session.session_id, counter,
            session.tagger.tag,
        )  # fmt: skip


STATUS = StatusReply(1, 1, 0, 0, 200, 400_000, 400_000, 500, 19_000, 1, 999_000, 37_000, 1, 1, 0)  # type: ignore[arg-type]
HELLO_REPLY = HelloReply("FUZZ", SERIAL, "1.0.0", 2, 2, 2)


# -- mutations ------------------------------------------------------------------------------

Mutator = Callable[[random.Random, list[bytes]], bytes]


def bit_flips(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)
    return bytes(data)


def truncation(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = rng.choice(seeds)
    cut = rng.randrange(len(data))
    return data[:cut] if rng.random() < 0.7 else data[cut:]


def splice(rng: random.Random, seeds: list[bytes]) -> bytes:
    a, b = rng.choice(seeds), rng.choice(seeds)
    return a[: rng.randrange(len(a) + 1)] + b[rng.randrange(len(b) + 1) :]


def length_lie(rng: random.Random, seeds: list[bytes]) -> bytes:
    """The length field changed, the CRC made good again: only the length check is left."""
    body = _body(rng.choice(seeds))
    if body is None or len(body) < HEADER_LEN + 2:
        return rng.choice(seeds)
    length = int.from_bytes(body[5:7], "big")
    lies = [length + 1, length - 1, 0, 0xFFFF, MAX_PAYLOAD_LEN, MAX_PAYLOAD_LEN + 1]
    lie = rng.choice([*lies, rng.getrandbits(16)]) & 0xFFFF
    return seal(body[:5] + lie.to_bytes(2, "big") + body[7:-2])


def stuffing_error(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    position = rng.randrange(1, max(2, len(data) - 1))
    choice = rng.randrange(3)
    if choice == 0:  # an escape byte followed by neither escape code
        data[position:position] = bytes([0xDB, rng.choice([0x00, 0xC1, 0xDB, 0xFF, 0x7E])])
    elif choice == 1:  # an escape byte right before the closing delimiter
        data[-1:-1] = b"\xdb"
    else:  # a delimiter in the middle of a frame
        data[position:position] = b"\xc0"
    return bytes(data)


def random_bytes(rng: random.Random, _seeds: list[bytes]) -> bytes:
    size = rng.choice([rng.randrange(16), rng.randrange(64), rng.randrange(1_200)])
    data = rng.randbytes(size)
    if rng.random() < 0.5:  # delimited, so that the decoder tries it as a frame
        data = b"\xc0" + data + b"\xc0"
    return data


def _body(data: bytes) -> bytes | None:
    chunks = [c for c in data.split(b"\xc0") if c]
    if not chunks:
        return None
    try:
        return unstuff(chunks[0])
    except ValueError:
        return None


def mutated_payload(rng: random.Random, payload: bytes) -> bytes:
    choice = rng.randrange(6)
    data = bytearray(payload)
    if choice == 0 and data:
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif choice == 1:
        return payload[: rng.randrange(len(payload) + 1)]
    elif choice == 2:
        return payload + rng.randbytes(rng.randint(1, 8))
    elif choice == 3:
        return rng.randbytes(rng.randrange(min(MAX_PAYLOAD_LEN, 2 * len(payload) + 8)))
    elif choice == 4 and data:  # a length prefix or count that lies: a byte set to an extreme
        data[rng.randrange(len(data))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF])
    else:
        return payload
    return bytes(data)


# -- the run --------------------------------------------------------------------------------


@dataclass
class _Corpus:
    to_pump: list[bytes]
    to_programmer: list[bytes]
    pump_frames: list[Frame]  # requests
    programmer_frames: list[Frame]  # replies and notifications


def run(
    inputs: int = FULL_INPUTS, seed: int = 20261123, *, budget_s: float = 600.0
) -> DecoderFigures:
    """``inputs`` inputs, or as many as ``budget_s`` allows (the figures say how many)."""
    started = time.perf_counter()
    deadline = started + budget_s
    rng = random.Random(seed)
    to_pump, to_programmer = load_seeds()
    corpus = _Corpus(to_pump, to_programmer, frames_of(to_pump), frames_of(to_programmer))
    ends = Ends(rng)
    figures = DecoderFigures(seed)
    stream = FrameDecoder()
    byte_mutators: list[tuple[str, Mutator]] = [
        ("bit flips", bit_flips),
        ("truncation", truncation),
        ("splice", splice),
        ("length lie", length_lie),
        ("stuffing error", stuffing_error),
        ("random bytes", random_bytes),
    ]
    warm_at = max(1, inputs // 10)
    rss_warm = 0.0
    for n in range(inputs):
        if n % 1024 == 0 and time.perf_counter() > deadline:
            break
        if n == warm_at:
            rss_warm = rss_mb()
        towards_pump = rng.random() < 0.5
        choice = rng.randrange(10)
        if choice < 6:
            name, mutate = byte_mutators[choice]
            data = mutate(rng, corpus.to_pump if towards_pump else corpus.to_programmer)
        else:
            name, data = _framed(rng, choice, towards_pump, corpus, ends)
        figures.by_mutator[name] = figures.by_mutator.get(name, 0) + 1
        try:
            _feed(data, towards_pump, ends, stream, figures, name)
        except Exception:
            figures.failures += 1
            if len(figures.examples) < 5:
                figures.examples.append(f"{name} {data.hex()}\n{traceback.format_exc()}")
            ends.open()
        figures.inputs += 1
    figures.rss_growth_mb = max(0.0, rss_mb() - rss_warm)
    if figures.rss_growth_mb > MAX_RSS_GROWTH_MB:
        figures.failures += 1
        figures.examples.append(f"memory grew {figures.rss_growth_mb:.1f} MB after warm-up")
    figures.wall_seconds = time.perf_counter() - started
    return figures


def _framed(
    rng: random.Random, choice: int, towards_pump: bool, corpus: _Corpus, ends: Ends
) -> tuple[str, bytes]:
    frame = rng.choice(corpus.pump_frames if towards_pump else corpus.programmer_frames)
    payload = mutated_payload(rng, frame.payload)[:MAX_PAYLOAD_LEN]
    if choice < 8:  # good CRC, unsigned: the message decoders and the plain-frame logic
        flags = frame.flags & ~AUTH if rng.random() < 0.8 else rng.getrandbits(8)
        version = frame.version if rng.random() < 0.9 else rng.choice([0, 1, 2, 3, 255])
        msg_type = frame.msg_type if rng.random() < 0.9 else rng.getrandbits(8)
        seq = frame.seq if rng.random() < 0.9 else rng.choice([0, 1, 0xFFFF])
        body = frame_body(flags & ~AUTH, seq, msg_type, payload, version=version)
        if flags & AUTH:  # an AUTH bit with whatever follows: session, counter, tag garbage
            body = body[:1] + bytes([flags]) + body[2:] + rng.randbytes(rng.choice([0, 8, 16]))
        return "payload behind a good CRC", seal(body)
    step = rng.choice([1, 1, 1, 1, 0, -1, -3, -70, 1_000])  # fresh, copies, stale, far ahead
    if towards_pump:
        return "payload behind a good tag", ends.sign_request(frame, payload, step)
    return "payload behind a good tag", ends.sign_reply(frame, payload, step)


def _feed(
    data: bytes,
    towards_pump: bool,
    ends: Ends,
    stream: FrameDecoder,
    figures: DecoderFigures,
    name: str = "",
) -> None:
    found = FrameDecoder().feed(data)
    stream.feed(data)
    if stream.buffered > MAX_STUFFED_LEN:
        raise AssertionError(f"the stream decoder holds {stream.buffered} bytes")
    framed = False
    for item in found:
        if isinstance(item, Frame):
            framed = True
            try:
                decode_message(item)
                figures.messages += 1
            except MessageError:
                pass
    figures.frames += framed
    if towards_pump:
        pump = ends.pump
        pump.receive_data(data, ends.now_us)
        for event in pump.events():
            if isinstance(event, RequestReceived):
                figures.requests_handed_up += 1
                pump.reply(event, HELLO_REPLY if isinstance(event.message, Hello) else STATUS)
        answer = pump.data_to_send()
        # What the pump sends must always be readable by the programmer.
        ends.programmer.receive_data(answer)
        for _event in ends.programmer.events():
            pass
        if pump._frames or pump._events or pump._unanswered is not None:
            raise AssertionError("the pump connection left frames or a request unanswered")
    else:
        figures.to_programmer[name] = figures.to_programmer.get(name, 0) + 1
        for programmer in (ends.programmer, ends.opening):
            programmer.receive_data(data)
            for reply in programmer.events():
                figures.replies_taken += isinstance(reply, ReplyReceived)
        if ends.opening._handshake is None:  # a forged SessionOpened got through?
            raise AssertionError("a session opened without the pump's proof")
    ends.now_us += 1
    ends.ensure_open()


def campaign(quick: bool) -> dict[str, float]:
    figures = run(QUICK_INPUTS if quick else FULL_INPUTS)
    print(f"  decoder: {figures.summary()}", flush=True)
    for example in figures.examples:
        print(f"  decoder failure: {example}", flush=True)
    return {
        "decoder_inputs": float(figures.inputs),
        "decoder_failures": float(figures.failures),
        "decoder_rss_growth_mb": round(figures.rss_growth_mb, 2),
    }


def main(argv: list[str]) -> int:
    inputs = int(argv[0]) if argv else FULL_INPUTS
    seed = int(argv[1]) if len(argv) > 1 else 20261123
    figures = run(inputs, seed)
    print(figures.summary())
    print(", ".join(f"{name} {count}" for name, count in sorted(figures.by_mutator.items())))
    for example in figures.examples:
        print(f"FAILURE: {example}")
    return 1 if figures.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
