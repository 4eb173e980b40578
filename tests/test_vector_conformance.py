"""The reference pump answers the published vectors byte for byte (docs/protocol.md, §14).

A fresh emulated pump is built from what the vectors file publishes (its keys, its clock,
the random bytes it drew) and each exchange's frames are sent to it at the exchange's
times; what it sends back must be the file's frames, exactly. The two errors outside the
conversation are provoked on their own and compared by reason, request type, seq, flags and
signedness.
"""

from __future__ import annotations

import json
import random
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest

from emulator.device import EmulatedDevice, Identity
from emulator.vectors import ScriptedRandom, build, markdown, vector_pump, vocabulary_markdown
from protocol import (
    ErrorReply,
    Frame,
    FrameDecoder,
    GetStatus,
    Key,
    Keyring,
    ProgrammerConnection,
    Role,
    SessionAuth,
    SessionChallenge,
    SessionOpen,
    decode_message,
    encode_payload,
)
from protocol.frame import frame_body, seal
from protocol.verification_budget import DEFAULT_LIMIT

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = json.loads((ROOT / "protocol" / "vectors" / "v2.json").read_text())
VECTORS: list[dict[str, Any]] = DOCUMENT["vectors"]
PUMP = DOCUMENT["pump"]


def device_from_the_document(scripted: bool = True) -> EmulatedDevice:
    """The pump as the file describes it; ``scripted``: drawing exactly the file's bytes."""
    keys = {Role.from_label(label): Key.from_hex(key) for label, key in PUMP["keys"].items()}
    script = [bytes.fromhex(data) for data in PUMP["random_bytes"]]
    random_bytes = ScriptedRandom(script) if scripted else random.Random(3).randbytes
    pump = vector_pump()
    assert pump.clock_us // 1_000_000 == PUMP["clock_s"]
    identity = Identity(serial_number=PUMP["serial_number"])
    return EmulatedDevice(
        pump, identity, Keyring(PUMP["serial_number"], keys), random_bytes=random_bytes
    )


def describe(wire: bytes) -> list[tuple[object, ...]]:
    """Reason, request type, seq, flags and signedness of each frame: for a readable diff."""
    out: list[tuple[object, ...]] = []
    for frame in FrameDecoder().feed(wire):
        assert isinstance(frame, Frame)
        message = decode_message(frame)
        reason = message.reason.name if isinstance(message, ErrorReply) else None
        request_type = message.request_type if isinstance(message, ErrorReply) else None
        out.append((type(message).__name__, reason, request_type, frame.seq, frame.flags))
    return out


def test_the_pump_answers_every_exchange_byte_for_byte() -> None:
    device = device_from_the_document()
    in_conversation = [v for v in VECTORS if "exchange" in v]
    for exchange, group in groupby(in_conversation, key=lambda v: v["exchange"]):
        vectors = list(group)
        sim_us, link_us = vectors[0]["sim_us"], vectors[0]["link_us"]
        sent = [bytes.fromhex(v["hex"]) for v in vectors if v["from"] == "programmer"]
        expected = b"".join(bytes.fromhex(v["hex"]) for v in vectors if v["from"] == "pump")
        if sent:
            got = b"".join(device.receive(data, sim_us, link_us) for data in sent)
        else:
            got = device.tick(sim_us)
        assert describe(got) == describe(expected), (exchange, vectors[0]["name"])
        assert got == expected, (exchange, vectors[0]["name"])


def test_the_committed_vectors_are_what_the_generator_records() -> None:
    assert build() == DOCUMENT, "regenerate: python -m emulator.vectors --write"


def test_the_generated_sections_of_the_specification_are_current() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    vectors = f"<!-- vectors:begin -->\n{markdown(DOCUMENT)}\n<!-- vectors:end -->"
    log = f"<!-- log-vocabulary:begin -->\n{vocabulary_markdown()}\n<!-- log-vocabulary:end -->"
    assert vectors in text, "regenerate: python -m emulator.vectors --write"  # section 14
    assert log in text, "regenerate: python -m emulator.vectors --write"  # section 10


def standalone(reason: str) -> dict[str, Any]:
    (vector,) = [
        v for v in VECTORS if "exchange" not in v and v["decoded"]["fields"].get("reason") == reason
    ]
    return vector


def test_rate_limited_is_sent_as_the_vector_says() -> None:
    vector = standalone("RATE_LIMITED")
    device = device_from_the_document(scripted=False)
    rng = random.Random(1)
    programmer = ProgrammerConnection(1, rng.randbytes)
    for attempt in range(DEFAULT_LIMIT):  # spend the budget with wrong proofs, no key
        opening = SessionOpen(1, rng.randbytes(16), "mallory")
        programmer.receive_data(device.receive(programmer.request(opening)[1], 0, attempt))
        (challenge,) = [e.message for e in programmer.events()]  # type: ignore[union-attr]
        assert isinstance(challenge, SessionChallenge)
        guess = SessionAuth(challenge.session_id, rng.randbytes(16))
        device.receive(programmer.request(guess)[1], 0, attempt)
    opening = SessionOpen(1, rng.randbytes(16), "clinician")
    programmer.receive_data(device.receive(programmer.request(opening)[1], 0, 1_000))
    (challenge,) = [e.message for e in programmer.events()]  # type: ignore[union-attr]
    assert isinstance(challenge, SessionChallenge)
    proof = SessionAuth(challenge.session_id, bytes(16))
    seq = vector["decoded"]["seq"]
    wire = seal(frame_body(0, seq, int(proof.TYPE), encode_payload(proof)))
    got = describe(device.receive(wire, 0, 1_000))
    assert got == describe(bytes.fromhex(vector["hex"]))


def test_internal_error_is_sent_as_the_vector_says(monkeypatch: pytest.MonkeyPatch) -> None:
    vector = standalone("INTERNAL_ERROR")
    (expected_frame,) = FrameDecoder().feed(bytes.fromhex(vector["hex"]))
    assert isinstance(expected_frame, Frame)
    expected = decode_message(expected_frame)
    assert isinstance(expected, ErrorReply)
    device = device_from_the_document(scripted=False)
    programmer = ProgrammerConnection(1, random.Random(2).randbytes)
    key = Key.from_hex(PUMP["keys"]["clinician"])
    opening = programmer.begin_session(Role.CLINICIAN, key, PUMP["serial_number"], "x")
    programmer.receive_data(device.receive(programmer.request(opening)[1], 0, 0))
    (challenge,) = [e.message for e in programmer.events()]  # type: ignore[union-attr]
    assert isinstance(challenge, SessionChallenge)
    proof = programmer.answer_challenge(challenge)
    programmer.receive_data(device.receive(programmer.request(proof)[1], 0, 0))
    list(programmer.events())

    def broken(_: object) -> object:
        raise RuntimeError("a bug in a handler")

    monkeypatch.setitem(device._handlers, GetStatus, broken)
    seq, data = programmer.request(GetStatus())
    (frame,) = FrameDecoder().feed(device.receive(data, 0, 0))
    assert isinstance(frame, Frame)
    message = decode_message(frame)
    assert isinstance(message, ErrorReply)
    assert (message.reason, message.request_type) == (expected.reason, expected.request_type)
    assert frame.flags == expected_frame.flags  # a reply, signed
    assert frame.seq == seq
