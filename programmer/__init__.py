"""The clinician programmer: a library (``Programmer``) and the ``pump-programmer`` command."""

from programmer.client import Change, Programmer
from programmer.errors import (
    DeviceRefused,
    KeyProblem,
    LinkError,
    LinkTimeout,
    NotExecuted,
    OutcomeUnknown,
    PortError,
    ProgrammerError,
    UnexpectedReply,
)
from programmer.keys import load_keyring
from programmer.link import Link

__all__ = [
    "Change",
    "DeviceRefused",
    "KeyProblem",
    "Link",
    "LinkError",
    "LinkTimeout",
    "NotExecuted",
    "OutcomeUnknown",
    "PortError",
    "Programmer",
    "ProgrammerError",
    "UnexpectedReply",
    "load_keyring",
]
