"""Finding and reading the key file for a pump (never printing a key)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from programmer.errors import KeyProblem
from protocol import KeyFileError, Keyring, default_key_path

KEY_FILE_ENV = "PUMP_KEY_FILE"


def key_path_for(serial_number: str, key_file: Path | None) -> Path:
    if key_file is not None:
        return key_file
    from_env = os.environ.get(KEY_FILE_ENV)
    if from_env:
        return Path(from_env)
    return Path(default_key_path(serial_number, os.environ))


def load_keyring(serial_number: str, key_file: Path | None = None) -> Keyring:
    path = key_path_for(serial_number, key_file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyProblem(
            f"no key file for pump {serial_number} at {path} (give --key-file or ${KEY_FILE_ENV})"
        ) from None
    except OSError as exc:
        raise KeyProblem(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        keyring = Keyring.from_plain(json.loads(text))
    except (ValueError, KeyFileError) as exc:
        raise KeyProblem(f"key file {path}: {exc}") from None
    if keyring.serial_number != serial_number:
        raise KeyProblem(
            f"key file {path} is for pump {keyring.serial_number}, not {serial_number}"
        )
    return keyring
