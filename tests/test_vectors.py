"""The published test vectors (protocol/vectors/*.json) decode, and encode, as stated."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any

import pytest

from protocol import Frame, FrameDecoder, FrameError, Kind, decode_message, encode_frame

VECTOR_DIR = Path(__file__).resolve().parent.parent / "protocol" / "vectors"
PROTOCOL_DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def load_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = []
    for path in sorted(VECTOR_DIR.glob("*.json")):
        vectors.extend(json.loads(path.read_text())["vectors"])
    return vectors


VECTORS = load_vectors()


def plain(value: object) -> object:
    if isinstance(value, enum.Flag):
        return [member.name for member in type(value) if member.value and member in value]
    if isinstance(value, enum.Enum):
        return value.name
    return value


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    events = FrameDecoder().feed(data)
    assert len(events) == 1
    (event,) = events
    if not vector["valid"]:
        assert isinstance(event, FrameError)
        assert event.reason.name == vector["error"]
        return
    assert isinstance(event, Frame)
    message = decode_message(event)
    expected = vector["decoded"]
    assert Kind.of(event.flags).value == expected["kind"]
    assert event.seq == expected["seq"]
    assert message.TYPE.name == expected["type"]
    assert type(message).__name__ == expected["message"]
    fields = {f.name: plain(getattr(message, f.name)) for f in dataclasses.fields(message)}
    assert fields == expected["fields"]
    assert encode_frame(event) == data


def test_vectors_are_in_the_specification() -> None:
    text = PROTOCOL_DOC.read_text()
    missing = [v["name"] for v in VECTORS if v["hex"] not in text]
    assert not missing, f"docs/protocol.md lacks vectors: {missing}"
