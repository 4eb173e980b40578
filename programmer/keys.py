"""Finding and reading the key file for a pump (never printing a key).

A key file is handled as SSH handles a private key: refused when group or others may read
it, when it is malformed, or when its keys cannot be random. Every refusal is a KeyProblem
(exit 5) naming the file, or ``$PUMP_KEYS``.
"""

from __future__ import annotations

import os
from pathlib import Path

from programmer.errors import KeyProblem
from protocol import KeyFileError, Keyring, default_key_path
from protocol.keyring import KEYS_ENV, mode_problem

KEY_FILE_ENV = "PUMP_KEY_FILE"


def key_path_for(serial_number: str, key_file: Path | None) -> Path:
    if key_file is not None:
        return key_file
    from_env = os.environ.get(KEY_FILE_ENV)
    if from_env:
        return Path(from_env)
    return Path(default_key_path(serial_number, os.environ))


def key_source(serial_number: str, key_file: Path | None = None) -> str:
    """Where the keys for a pump come from, as an error message names it."""
    if key_file is None and not os.environ.get(KEY_FILE_ENV) and os.environ.get(KEYS_ENV):
        return f"${KEYS_ENV}"
    return f"key file {key_path_for(serial_number, key_file)}"


def load_keyring(serial_number: str, key_file: Path | None = None) -> Keyring:
    from_env = os.environ.get(KEYS_ENV)
    if key_file is None and not os.environ.get(KEY_FILE_ENV) and from_env:
        try:
            return _for_pump(Keyring.from_json(from_env), serial_number, f"${KEYS_ENV}")
        except KeyFileError as exc:
            raise KeyProblem(f"${KEYS_ENV}: {exc}") from None
    path = key_path_for(serial_number, key_file)
    text = _read_private(path, serial_number)
    try:
        keyring = Keyring.from_json(text)
    except KeyFileError as exc:
        raise KeyProblem(f"key file {path}: {exc}") from None
    return _for_pump(keyring, serial_number, f"key file {path}")


def _read_private(path: Path, serial_number: str) -> str:
    """The file's text, once its mode shows that only its owner can use it."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise KeyProblem(
            f"no key file for pump {serial_number} at {path} (give --key-file or ${KEY_FILE_ENV})"
        ) from None
    except OSError as exc:
        raise KeyProblem(f"cannot read key file {path}: {exc.strerror}") from None
    with handle:
        problem = mode_problem(os.fstat(handle.fileno()).st_mode, str(path))
        if problem is not None:
            raise KeyProblem(str(problem))
        try:
            data = handle.read()
        except OSError as exc:
            raise KeyProblem(f"cannot read key file {path}: {exc.strerror}") from None
    return data.decode("utf-8", errors="replace")


def _for_pump(keyring: Keyring, serial_number: str, source: str) -> Keyring:
    if keyring.serial_number != serial_number:
        raise KeyProblem(f"{source} is for pump {keyring.serial_number}, not {serial_number}")
    return keyring
