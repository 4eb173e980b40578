"""A pump's keys, one per role, as plain data: what a key file holds.

Key file (JSON)::

    {"serial_number": "EMU000001",
     "keys": {"clinician": "<64 hex digits>", "patient": "...", "read-only": "..."}}

A role may be missing (that role then cannot open sessions). There is no default key: the
emulator generates a file of random keys when it is given none. The same JSON may be given
in the environment variable ``PUMP_KEYS`` instead of a file (for CI secrets).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from protocol.auth import KEY_LEN, Key, Role


class KeyFileError(ValueError):
    """A key file that is not of this format; never quotes key material."""


@dataclass(frozen=True)
class Keyring:
    serial_number: str
    keys: Mapping[Role, Key]

    @classmethod
    def generate(
        cls, serial_number: str, random_bytes: Callable[[int], bytes] = secrets.token_bytes
    ) -> Keyring:
        return cls(serial_number, {role: Key(random_bytes(KEY_LEN)) for role in Role})

    @classmethod
    def from_plain(cls, data: Any) -> Keyring:
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            raise KeyFileError('expected {"serial_number": ..., "keys": {role: hex}}')
        serial = data.get("serial_number")
        if not isinstance(serial, str) or not serial:
            raise KeyFileError("serial_number missing")
        keys: dict[Role, Key] = {}
        for label, value in data["keys"].items():
            try:
                role = Role.from_label(str(label))
            except KeyError:
                raise KeyFileError(f"unknown role {label!r}") from None
            if not isinstance(value, str):
                raise KeyFileError(f"key for {role.label} must be a hex string")
            try:
                keys[role] = Key.from_hex(value)
            except ValueError as exc:
                raise KeyFileError(f"key for {role.label}: {exc}") from None
        if not keys:
            raise KeyFileError("no keys")
        return cls(serial, keys)

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise KeyFileError(f"not JSON: {exc.args[0]}") from None
        return cls.from_plain(data)

    def to_plain(self) -> dict[str, Any]:
        return {
            "serial_number": self.serial_number,
            "keys": {role.label: key.export_hex() for role, key in self.keys.items()},
        }

    def __repr__(self) -> str:
        return f"Keyring({self.serial_number!r}, roles={[r.label for r in self.keys]})"


KEYS_ENV = "PUMP_KEYS"


def default_key_path(serial_number: str, environ: Mapping[str, str]) -> PurePosixPath:
    """Where a user's key file for a pump lives unless told otherwise."""
    base = environ.get("XDG_CONFIG_HOME") or f"{environ.get('HOME', '.')}/.config"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in serial_number)
    return PurePosixPath(base) / "itb-pump" / "keys" / f"{safe}.json"
