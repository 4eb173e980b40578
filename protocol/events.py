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
    operator: str = ""  # who opened the session: for the audit trail


@dataclass(slots=True)
class Refused:
    """The connection refused a frame (answered already, or dropped): for the audit log."""

    reason: Reason
    detail: str
    msg_type: int = 0
    answered: bool = True
    # The frame passed the session's tag and counter checks, so a key holder sent it: its
    # refusal belongs to the clinical record. Anything else (noise, forgeries, replays of
    # captured frames, which anyone can send) is link traffic.
    attributable: bool = False
    operator: str = ""  # attributable refusals: who, and which request (session:counter)
    request_id: str = ""


@dataclass(slots=True)
class Retransmitted:
    """A copy of one of the session's last requests arrived: its reply went out again from
    the cache, or (``pending``) will go out once the application gives it. Never executed
    twice, never logged."""

    seq: int
    pending: bool = False


@dataclass(slots=True)
class StaleRequest:
    """A signed request older than the retransmission window: dropped without a reply (it
    may be a copy of one that ran, so no refusal may be signed for it). A link record."""

    seq: int
    counter: int
    detail: str


@dataclass(slots=True)
class SessionStarted:
    session_id: int
    role: Role
    operator: str = ""


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


PumpEvent = RequestReceived | Refused | Retransmitted | StaleRequest | SessionStarted | SessionEnded
ProgrammerEvent = ReplyReceived | NotificationReceived | FrameDropped
