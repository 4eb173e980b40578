"""A campaign's clinician session, opened again when the link gave it up.

The link reopens a lost session by itself within its budget; when even that fails (a changing
request's outcome is then unknown) it is left without one, and every later request would be
refused unsigned. A campaign that goes on must open a session itself first, as a clinician
would; opening changes nothing (``telemetry_session_cost`` is 0 in the campaigns).
"""

from __future__ import annotations

from pathlib import Path

from programmer import Programmer, ProgrammerError
from programmer.keys import load_keyring
from protocol import Keyring, Role

OPEN_TRIES = 50


class SessionKeeper:
    def __init__(self, programmer: Programmer, keyring: Keyring) -> None:
        self.programmer = programmer
        self.keyring = keyring
        self.reopened = 0

    @classmethod
    def from_key_file(cls, programmer: Programmer, key_file: Path) -> SessionKeeper:
        identity = programmer.identity
        if identity is None:
            raise RuntimeError("the programmer has not greeted the pump")
        return cls(programmer, load_keyring(identity.serial_number, key_file))

    def ensure(self) -> None:
        """A session, opened again (up to ``OPEN_TRIES`` tries) if the link has none."""
        if self.programmer.link.in_session:
            return
        self.reopened += 1
        for _ in range(OPEN_TRIES):
            try:
                self.programmer.open_session(Role.CLINICIAN, self.keyring)
                return
            except ProgrammerError:
                continue
        raise RuntimeError(f"could not open a session again in {OPEN_TRIES} tries")
