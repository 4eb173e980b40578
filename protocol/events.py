"""What the connection objects hand to the application."""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.auth import Role
from protocol.frame import Frame
from protocol.messages import Message
from protocol.reasons import Reason


@dataclass(slots=True)
class RequestReceived:
    """A new request for the application to execute once, then ``reply`` or ``refuse``."""

    seq: int
    message: Message
    role: Role | None  # None: outside a session (identity only)
    frame: Frame = field(repr=False)
    session_id: int = 0


@dataclass(slots=True)
class Refused:
    """The connection refused a frame (answered already, or dropped): for the audit log."""

    reason: Reason
    detail: str
    msg_type: int = 0
    answered: bool = True


@dataclass(slots=True)
class Retransmitted:
    """A request already executed arrived again; its cached reply went out again."""

    seq: int


@dataclass(slots=True)
class SessionStarted:
    session_id: int
    role: Role


@dataclass(slots=True)
class SessionEnded:
    session_id: int
    role: Role
    why: str  # "closed", "idle", "replaced"


@dataclass(slots=True)
class FrameDropped:
    """Bytes the programmer discarded (noise, stray or unverifiable frames)."""

    reason: Reason
    detail: str


@dataclass(slots=True)
class ReplyReceived:
    seq: int
    message: Message
    authenticated: bool = False


@dataclass(slots=True)
class NotificationReceived:
    message: Message


PumpEvent = RequestReceived | Refused | Retransmitted | SessionStarted | SessionEnded
ProgrammerEvent = ReplyReceived | NotificationReceived | FrameDropped
