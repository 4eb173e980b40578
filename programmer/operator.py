"""Who is programming: the identifier a session carries into the pump's audit trail.

A clinician key is often shared by a clinic; the operator identifier is what still tells
the records of one person's session from another's. It is bound into the session proofs,
so nobody on the line can change it (docs/protocol.md, section 4).
"""

from __future__ import annotations

import getpass
import os
import platform

from protocol import MAX_OPERATOR_LEN

OPERATOR_ENV = "PUMP_OPERATOR"


def clean_operator(text: str) -> str:
    """Printable ASCII, at most 32 characters; anything else becomes '?'."""
    cleaned = "".join(ch if " " <= ch <= "~" else "?" for ch in text.strip())
    return cleaned[:MAX_OPERATOR_LEN]


def checked_operator(text: str) -> str:
    """An operator someone typed: kept exactly, or refused (ValueError). The audit record
    must say who, as they gave it; never a name cut short or with letters replaced."""
    given = text.strip()
    if not given:
        raise ValueError("an operator is 1 to 32 printable ASCII characters; this is empty")
    if clean_operator(given) != given:
        problem = "too long" if len(given) > MAX_OPERATOR_LEN else "not printable ASCII"
        raise ValueError(
            f"operator {given!r} is {problem}: the pump's log takes 1 to "
            f"{MAX_OPERATOR_LEN} printable ASCII characters"
        )
    return given


def default_operator() -> str:
    """``$PUMP_OPERATOR`` (refused, ValueError, if the log could not keep it whole), else
    user@host (made to fit: nobody typed it)."""
    given = os.environ.get(OPERATOR_ENV, "").strip()
    if given:
        try:
            return checked_operator(given)
        except ValueError as exc:
            raise ValueError(f"${OPERATOR_ENV}: {exc}") from None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    host = platform.node().split(".")[0] or "localhost"
    return clean_operator(f"{user}@{host}") or "unknown"
