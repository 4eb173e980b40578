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


def default_operator() -> str:
    """``$PUMP_OPERATOR``, else user@host."""
    given = os.environ.get(OPERATOR_ENV, "").strip()
    if given:
        return clean_operator(given)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    host = platform.node().split(".")[0] or "localhost"
    return clean_operator(f"{user}@{host}") or "unknown"
