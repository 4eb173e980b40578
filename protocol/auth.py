"""Keys, proofs and tags: HMAC-SHA256 everywhere, compared in constant time.

Each pump has one 256-bit key per role (clinician, patient, read-only); there is no default
key. A session is opened by challenge and response (docs/protocol.md, section 4):

    ctx              = serial | role | session | Np | Nd | operator   (serial, operator: u8 length)
    proof_programmer = HMAC(role_key, "ITB2 programmer" | ctx)[:16]
    proof_pump       = HMAC(role_key, "ITB2 pump"       | ctx)[:16]
    session_key      = HMAC(role_key, "ITB2 session"    | ctx)

and every frame of the session then carries HMAC(session_key, frame up to the tag)[:8].
Key bytes never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from hashlib import _Hash

KEY_LEN = 32
NONCE_LEN = 16
PROOF_LEN = 16
TAG_LEN = 8
_BLOCK = 64
_CONTEXT = struct.Struct(">BI")
HashState: TypeAlias = "_Hash"  # a hashlib object


class Role(IntEnum):
    CLINICIAN = 1
    PATIENT = 2
    READ_ONLY = 3

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")

    @classmethod
    def from_label(cls, label: str) -> Role:
        return cls[label.upper().replace("-", "_")]


class Key:
    """A secret key; its value is never shown."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) != KEY_LEN:
            raise ValueError(f"a key is {KEY_LEN} bytes, got {len(secret)}")
        self._secret = bytes(secret)

    @classmethod
    def from_hex(cls, text: str) -> Key:
        try:
            secret = bytes.fromhex(text.strip())
        except ValueError:
            raise ValueError("a key is 64 hexadecimal digits") from None
        return cls(secret)

    def mac(self, message: bytes) -> bytes:
        return hmac.digest(self._secret, message, "sha256")

    def distinct_byte_values(self) -> int:
        """How many different byte values the secret holds: tells a random key from a typed-in
        one while giving away nothing an attacker could use."""
        return len(set(self._secret))

    def export_hex(self) -> str:
        """The secret itself, for writing a key file: the one deliberate way out."""
        return self._secret.hex()

    def __repr__(self) -> str:
        return "Key(<secret>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return id(self)


class SessionTagger:
    """HMAC-SHA256 with the key pads hashed once, so each frame costs three compressions."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, session_key: bytes) -> None:
        padded = session_key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def tag(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:TAG_LEN]

    def verify(self, message: bytes, tag: bytes) -> bool:
        return hmac.compare_digest(self.tag(message), tag)

    def keyed_states(self) -> tuple[HashState, HashState]:
        """The hashes of the inner and outer key pads, for a hot path that writes ``tag``
        out inline (a Python call is a sixth of a tag's cost): copy them, never update."""
        return self._inner, self._outer

    def __repr__(self) -> str:
        return "SessionTagger(<secret>)"


@dataclass(frozen=True, slots=True)
class SessionContext:
    """Everything both ends bind a session to: neither end can be talked into another."""

    serial_number: str
    role: Role
    session_id: int
    programmer_nonce: bytes
    pump_nonce: bytes
    operator: str

    def encode(self, label: bytes) -> bytes:
        serial = self.serial_number.encode("ascii")
        operator = self.operator.encode("ascii")
        return (
            label
            + bytes([len(serial)])
            + serial
            + _CONTEXT.pack(int(self.role), self.session_id)
            + self.programmer_nonce
            + self.pump_nonce
            + bytes([len(operator)])
            + operator
        )


def programmer_proof(key: Key, ctx: SessionContext) -> bytes:
    return key.mac(ctx.encode(b"ITB2 programmer"))[:PROOF_LEN]


def pump_proof(key: Key, ctx: SessionContext) -> bytes:
    return key.mac(ctx.encode(b"ITB2 pump"))[:PROOF_LEN]


def session_key(key: Key, ctx: SessionContext) -> bytes:
    return key.mac(ctx.encode(b"ITB2 session"))


def session_tagger(key: Key, ctx: SessionContext) -> SessionTagger:
    return SessionTagger(session_key(key, ctx))


def proofs_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
