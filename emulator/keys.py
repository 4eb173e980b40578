"""The emulator's keys: read from a key file, or generated into one when there is none.

There is no built-in key. A pump without a key file gets fresh random keys, written (mode
0600) where the programmer looks by default, so ``make run`` works with no set-up and every
checkout's emulator has keys of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from protocol import KeyFileError, Keyring


def load_or_create(path: Path, serial_number: str) -> tuple[Keyring, bool]:
    """The keyring at ``path``; created with random keys when the file does not exist."""
    if path.exists():
        try:
            keyring = Keyring.from_json(path.read_text(encoding="utf-8"))
        except (OSError, KeyFileError) as exc:
            raise KeyFileError(f"key file {path}: {exc}") from None
        return keyring, False
    keyring = Keyring.generate(serial_number)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(keyring.to_plain(), handle, indent=2)
        handle.write("\n")
    return keyring, True
