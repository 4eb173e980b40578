"""The published test vectors (protocol/vectors/v2.json): what another team builds against.

These tests use the protocol package alone, as another team would use its own decoder; the
replay into the reference pump is in tests/test_vector_conformance.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from protocol import (
    Frame,
    FrameDecoder,
    FrameError,
    Kind,
    MessageError,
    Reason,
    decode_message,
)
from protocol.messages import all_message_classes, encode_payload
from protocol.vectors import plain

ROOT = Path(__file__).resolve().parents[2]
VECTORS_DIR = ROOT / "protocol" / "vectors"
DOCUMENT = json.loads((VECTORS_DIR / "v2.json").read_text())
SCHEMA = json.loads((VECTORS_DIR / "schema.json").read_text())
VECTORS: list[dict[str, Any]] = DOCUMENT["vectors"]
VALID = [v for v in VECTORS if v["valid"]]
SESSION_KEYS = {s["session_id"]: bytes.fromhex(s["session_key"]) for s in DOCUMENT["sessions"]}
NEVER_SENT = {"UNKNOWN_FLAGS", "WRONG_DIRECTION", "LOCKED_OUT"}


def only_event(hex_text: str) -> Frame | FrameError:
    events = FrameDecoder().feed(bytes.fromhex(hex_text))
    assert len(events) == 1
    return events[0]


def test_the_file_follows_its_json_schema() -> None:
    jsonschema.validate(DOCUMENT, SCHEMA, cls=jsonschema.Draft202012Validator)


def test_the_schema_rejects_a_vector_with_neither_decoded_nor_error() -> None:
    broken = json.loads(json.dumps(DOCUMENT))
    broken["vectors"][0].pop("decoded")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_valid_vector_decodes_and_re_encodes(vector: dict[str, Any]) -> None:
    frame = only_event(vector["hex"])
    assert isinstance(frame, Frame)
    message = decode_message(frame)
    expected = vector["decoded"]
    assert (Kind.of(frame.flags).value, frame.seq) == (expected["kind"], expected["seq"])
    assert frame.version == expected["version"]
    assert (message.TYPE.name, type(message).__name__) == (expected["type"], expected["message"])
    assert plain(message) == expected["fields"]
    assert encode_payload(message) == frame.payload
    if frame.authenticated:
        assert (frame.session_id, frame.counter) == (expected["session_id"], expected["counter"])
        key = SESSION_KEYS[frame.session_id]
        assert hmac.digest(key, frame.signed, "sha256")[:8] == frame.tag


@pytest.mark.parametrize("vector", [v for v in VECTORS if not v["valid"]], ids=lambda v: v["name"])
def test_invalid_vector_is_refused_for_its_stated_reason(vector: dict[str, Any]) -> None:
    """Frame and message checks are the decoder's; the session checks (tag, counter,
    session, version of a non-HELLO) show in the pump's answer in the same exchange."""
    event = only_event(vector["hex"])
    reason: str | None = None
    if isinstance(event, FrameError):
        reason = event.reason.name
    else:
        try:
            decode_message(event)
        except MessageError as exc:
            reason = exc.reason.name
    if reason is None:
        answers = [
            v for v in VECTORS if v.get("exchange") == vector["exchange"] and v["from"] == "pump"
        ]
        reason = answers[0]["decoded"]["fields"]["reason"] if answers else None
        if reason is None:  # dropped without an answer: only these are
            assert vector["error"] in {"UNKNOWN_FLAGS", "WRONG_DIRECTION"}
            reason = vector["error"]
    assert reason == vector["error"]


def test_every_message_type_and_reason_code_is_covered() -> None:
    named = {(v["decoded"]["kind"], v["decoded"]["message"]) for v in VALID}
    assert {(cls.KIND.value, cls.__name__) for cls in all_message_classes()} <= named
    reasons = {v["error"] for v in VECTORS if not v["valid"]}
    reasons |= {
        v["decoded"]["fields"]["reason"] for v in VALID if "reason" in v["decoded"]["fields"]
    }
    assert reasons == {reason.name for reason in Reason}


def test_encodings_never_sent_are_marked_and_never_in_the_conversation() -> None:
    marked = {v["decoded"]["fields"]["reason"] for v in VALID if v.get("sent") is False}
    assert marked == NEVER_SENT
    sent_by_pump = {
        v["decoded"]["fields"].get("reason")
        for v in VALID
        if v["from"] == "pump" and "exchange" in v
    }
    assert not sent_by_pump & NEVER_SENT


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_every_single_bit_flip_is_detected(vector: dict[str, Any]) -> None:
    wire = bytes.fromhex(vector["hex"])
    for index in range(1, len(wire) - 1):  # the delimiters themselves are not frame content
        for bit in range(8):
            flipped = bytearray(wire)
            flipped[index] ^= 1 << bit
            events = FrameDecoder().feed(bytes(flipped))
            assert all(isinstance(e, FrameError) for e in events), (index, bit)


@pytest.mark.parametrize("session", DOCUMENT["sessions"], ids=lambda s: s["name"])
def test_session_keys_are_reproducible_from_the_document(session: dict[str, Any]) -> None:
    # docs/protocol.md, section 4: HMAC-SHA256(role key, "ITB2 session" | ctx), where ctx is
    # len(serial) | serial | role | session id | programmer nonce | pump nonce |
    # len(operator) | operator.
    serial = session["serial_number"].encode()
    operator = session["operator"].encode()
    role = {"clinician": 1, "patient": 2, "read-only": 3}[session["role"]]
    context = (
        b"ITB2 session"
        + bytes([len(serial)])
        + serial
        + bytes([role])
        + session["session_id"].to_bytes(4, "big")
        + bytes.fromhex(session["programmer_nonce"])
        + bytes.fromhex(session["pump_nonce"])
        + bytes([len(operator)])
        + operator
    )
    derived = hmac.new(bytes.fromhex(session["role_key"]), context, hashlib.sha256).digest()
    assert derived.hex() == session["session_key"]


def test_vectors_are_in_the_specification() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    missing = [v["name"] for v in VECTORS if v["hex"] not in text]
    assert not missing, f"docs/protocol.md lacks vectors: {missing}"
    assert not (VECTORS_DIR / "v1.json").exists()
