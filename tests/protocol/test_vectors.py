"""The published test vectors (protocol/vectors/v1.json): what another team builds against."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from protocol import Frame, FrameDecoder, FrameError, Kind, MessageError, Reason, decode_message
from protocol.messages import all_message_classes, encode_payload
from protocol.vectors.generate import build, plain

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / "protocol" / "vectors" / "v1.json").read_text())
VECTORS: list[dict[str, Any]] = DOCUMENT["vectors"]
VALID = [v for v in VECTORS if v["valid"]]
SESSION = DOCUMENT["session"]


def only_event(hex_text: str) -> Frame | FrameError:
    events = FrameDecoder().feed(bytes.fromhex(hex_text))
    assert len(events) == 1
    return events[0]


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_valid_vector_decodes_and_re_encodes(vector: dict[str, Any]) -> None:
    frame = only_event(vector["hex"])
    assert isinstance(frame, Frame)
    message = decode_message(frame)
    expected = vector["decoded"]
    assert (Kind.of(frame.flags).value, frame.seq) == (expected["kind"], expected["seq"])
    assert (message.TYPE.name, type(message).__name__) == (expected["type"], expected["message"])
    assert plain(message) == expected["fields"]
    assert encode_payload(message) == frame.payload
    if frame.authenticated:
        assert (frame.session_id, frame.counter) == (expected["session_id"], expected["counter"])
        key = bytes.fromhex(SESSION["session_key"])
        assert hmac.digest(key, frame.signed, "sha256")[:8] == frame.tag


@pytest.mark.parametrize("vector", [v for v in VECTORS if not v["valid"]], ids=lambda v: v["name"])
def test_invalid_vector_fails_for_its_stated_reason(vector: dict[str, Any]) -> None:
    event = only_event(vector["hex"])
    if isinstance(event, Frame):
        with pytest.raises(MessageError) as error:
            decode_message(event)
        reason = error.value.reason
    else:
        reason = event.reason
    assert reason.name == vector["error"]


def test_every_message_type_and_reason_code_is_covered() -> None:
    named = {(v["decoded"]["kind"], v["decoded"]["message"]) for v in VALID}
    assert {(cls.KIND.value, cls.__name__) for cls in all_message_classes()} <= named
    reasons = {v["error"] for v in VECTORS if not v["valid"]}
    reasons |= {
        v["decoded"]["fields"]["reason"] for v in VALID if "reason" in v["decoded"]["fields"]
    }
    assert reasons == {reason.name for reason in Reason}


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_every_single_bit_flip_is_detected(vector: dict[str, Any]) -> None:
    wire = bytes.fromhex(vector["hex"])
    for index in range(1, len(wire) - 1):  # the delimiters themselves are not frame content
        for bit in range(8):
            flipped = bytearray(wire)
            flipped[index] ^= 1 << bit
            events = FrameDecoder().feed(bytes(flipped))
            assert all(isinstance(e, FrameError) for e in events), (index, bit)


def test_session_key_derivation_is_reproducible_from_the_document() -> None:
    # docs/protocol.md section 4: HMAC-SHA256(role key, "ITB1 session" | len(serial) | serial |
    # role | session id | programmer nonce | pump nonce).
    serial = SESSION["serial_number"].encode()
    context = (
        b"ITB1 session"
        + bytes([len(serial)])
        + serial
        + bytes([1])
        + SESSION["session_id"].to_bytes(4, "big")
        + bytes.fromhex(SESSION["programmer_nonce"])
        + bytes.fromhex(SESSION["pump_nonce"])
    )
    derived = hmac.new(bytes.fromhex(SESSION["role_key"]), context, hashlib.sha256).digest()
    assert derived.hex() == SESSION["session_key"]


def test_committed_vectors_match_the_generator() -> None:
    assert build() == DOCUMENT, (
        "regenerate: python -m protocol.vectors.generate > protocol/vectors/v1.json"
    )


def test_vectors_are_in_the_specification() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    missing = [v["name"] for v in VECTORS if v["hex"] not in text]
    assert not missing, f"docs/protocol.md lacks vectors: {missing}"
