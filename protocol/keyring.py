"""A pump's keys, one per role, as plain data: what a key file holds.

Key file (JSON)::

    {"serial_number": "EMU000001",
     "keys": {"clinician": "<64 hex digits>", "patient": "...", "read-only": "..."}}

A role may be missing (that role then cannot open sessions). There is no default key: the
emulator writes a file of random keys at the default location on its first run, or at an
explicit path when told to (``--new-keys``). The same JSON may be given in the environment
variable ``PUMP_KEYS`` instead of a file (for CI secrets).

Keys are handled as SSH handles private keys: a key file that group or others may read is
refused (:func:`mode_problem`, the shells do the ``stat``), and so is a keyring whose keys
cannot have come from a random source (:class:`WeakKey`).
"""

from __future__ import annotations

import json
import secrets
import shlex
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import PurePosixPath
from typing import Any

from protocol.auth import KEY_LEN, Key, Role


class KeyFileError(ValueError):
    """A key file that is not of this format; never quotes key material."""


class KeyFileTooOpen(KeyFileError):
    """A key file that group or others may use: its keys may already be someone else's."""

    def __init__(self, path: str, mode: int) -> None:
        super().__init__(
            f"key file {path} is accessible by others (mode {mode:04o}): "
            f"chmod 600 {shlex.quote(path)}"
        )
        self.path = path
        self.mode = mode


def mode_problem(mode: int, path: str) -> KeyFileTooOpen | None:
    """OpenSSH's rule for private keys: no permission at all for group or others.

    ``mode`` is ``st_mode`` from the shell's ``stat``; the refusal is returned, not raised, so
    each shell reports it its own way.
    """
    if mode & 0o077:
        return KeyFileTooOpen(path, stat.S_IMODE(mode))
    return None


# A random 32-byte key has about 30 distinct byte values. The chance that it has 7 or fewer is
# sum(C(256, k) * S(32, k) * k! for k in 1..7) / 256**32 ~= 1.2e-37 (2**-122.7), S being the
# Stirling numbers of the second kind: a key with fewer than 8 was typed in, not drawn.
MIN_DISTINCT_BYTES = 8


class Weakness(Enum):
    """Why a key cannot have come from a random source."""

    CONSTANT = "is one byte value repeated"
    FEW_VALUES = f"has fewer than {MIN_DISTINCT_BYTES} distinct byte values"
    SHARED = "is also the key of another role"


class WeakKey(KeyFileError):
    """A key with no entropy to speak of; names the roles, never the bytes."""

    def __init__(self, weakness: Weakness, roles: tuple[Role, ...]) -> None:
        if weakness is Weakness.SHARED:
            labels = " and ".join(role.label for role in roles)
            text = f"the {labels} roles share one key: each role needs a random key of its own"
        else:
            text = f"the {roles[0].label} key {weakness.value}: not a random key"
        super().__init__(text)
        self.weakness = weakness
        self.roles = roles


def _weakness(keys: Mapping[Role, Key]) -> WeakKey | None:
    roles = sorted(keys)
    for role in roles:
        distinct = keys[role].distinct_byte_values()
        if distinct == 1:
            return WeakKey(Weakness.CONSTANT, (role,))
        if distinct < MIN_DISTINCT_BYTES:
            return WeakKey(Weakness.FEW_VALUES, (role,))
    for index, first in enumerate(roles):
        for second in roles[index + 1 :]:
            if keys[first] == keys[second]:
                return WeakKey(Weakness.SHARED, (first, second))
    return None


@dataclass(frozen=True)
class Keyring:
    """One pump's keys; refuses weak keys however it is built (file, environment or code)."""

    serial_number: str
    keys: Mapping[Role, Key]

    def __post_init__(self) -> None:
        weakness = _weakness(self.keys)
        if weakness is not None:
            raise weakness

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
