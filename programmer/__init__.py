"""The clinician programmer: a library (``Programmer``) and the ``pump-programmer`` command."""

from programmer.client import Change, Programmer
from programmer.errors import (
    DeviceRefused,
    KeyProblem,
    LinkError,
    LinkTimeout,
    NotExecuted,
    OutcomeUnknown,
    OutsideLimits,
    PortError,
    ProgrammerError,
    UnexpectedReply,
    UsageError,
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
    "OutsideLimits",
    "PortError",
    "Programmer",
    "ProgrammerError",
    "UnexpectedReply",
    "UsageError",
    "load_keyring",
]
