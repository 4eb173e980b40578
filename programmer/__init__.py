"""The clinician programmer: a library (``Programmer``) and the ``pump-programmer`` command."""

from programmer.client import Programmer
from programmer.errors import (
    DeviceRefused,
    LinkError,
    LinkTimeout,
    PortError,
    ProgrammerError,
    UnexpectedReply,
)
from programmer.link import Link

__all__ = [
    "DeviceRefused",
    "Link",
    "LinkError",
    "LinkTimeout",
    "PortError",
    "Programmer",
    "ProgrammerError",
    "UnexpectedReply",
]
