"""Key files for tests: good and weak keys, written as a careful user writes them (0600)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from protocol.keyring import Weakness
from tests.protocol.pair import seeded

_RANDOM = seeded(11)(32 * 3)
GOOD_HEX = [_RANDOM[i : i + 32].hex() for i in range(0, 96, 32)]
GOOD_KEYS = dict(zip(("clinician", "patient", "read-only"), GOOD_HEX, strict=True))

# Keys that no random source produces, and why.
WEAK_KEYS: dict[str, tuple[dict[str, str], Weakness]] = {
    "all zero": ({"clinician": "00" * 32, "patient": GOOD_HEX[1]}, Weakness.CONSTANT),
    "one byte repeated": ({"clinician": GOOD_HEX[0], "patient": "a5" * 32}, Weakness.CONSTANT),
    "seven distinct bytes": (
        {"clinician": GOOD_HEX[0], "read-only": bytes(range(7)).hex() * 4 + "00" * 4},
        Weakness.FEW_VALUES,
    ),
    "one key for two roles": (
        {"clinician": GOOD_HEX[0], "patient": GOOD_HEX[1], "read-only": GOOD_HEX[0]},
        Weakness.SHARED,
    ),
}


def key_json(keys: dict[str, str], serial_number: str) -> str:
    return json.dumps({"serial_number": serial_number, "keys": keys})


def write_key_file(path: Path, text: str, mode: int = 0o600) -> Path:
    """Written private from the start; ``mode`` then loosens it for tests that need that."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(mode)
    return path
