"""The pump's binary wire protocol, sans-IO: bytes in, typed messages out.

Knows nothing of ports, threads, clocks or the pump model; see docs/protocol.md.
"""

from protocol.auth import Key, Role, SessionContext, SessionTagger
from protocol.codes import (
    NO_DIGEST,
    NOT_MEASURED,
    STOP_CONFIRMATION,
    AlarmCode,
    AlarmFlags,
    LogClass,
    Mode,
    OutcomeStatus,
    PumpState,
)
from protocol.events import (
    FrameDropped,
    NotificationReceived,
    ProgrammerEvent,
    PumpEvent,
    Refused,
    ReplyReceived,
    RequestReceived,
    Retransmitted,
    SessionEnded,
    SessionStarted,
    StaleRequest,
)
from protocol.frame import (
    HELLO_VERSION,
    MAX_FRAME_LEN,
    PROTOCOL_VERSION,
    Flags,
    Frame,
    FrameDecoder,
    FrameError,
    decode_body,
    encode_frame,
)
from protocol.keyring import KeyFileError, Keyring, default_key_path
from protocol.messages import *  # noqa: F403  (the message catalogue is the public API)
from protocol.messages import __all__ as _messages_all
from protocol.outcomes import OutcomeMemory
from protocol.programmer_connection import Outgoing, ProgrammerConnection
from protocol.pump_connection import PumpConnection, request_id
from protocol.reasons import Reason
from protocol.roles import CHANGING, PERMITTED, UNAUTHENTICATED, permitted
from protocol.verification_budget import VerificationBudget

__all__ = [
    "CHANGING",
    "HELLO_VERSION",
    "MAX_FRAME_LEN",
    "NOT_MEASURED",
    "NO_DIGEST",
    "PERMITTED",
    "PROTOCOL_VERSION",
    "STOP_CONFIRMATION",
    "UNAUTHENTICATED",
    "AlarmCode",
    "AlarmFlags",
    "Flags",
    "Frame",
    "FrameDecoder",
    "FrameDropped",
    "FrameError",
    "Key",
    "KeyFileError",
    "Keyring",
    "LogClass",
    "Mode",
    "NotificationReceived",
    "OutcomeMemory",
    "OutcomeStatus",
    "Outgoing",
    "ProgrammerConnection",
    "ProgrammerEvent",
    "PumpConnection",
    "PumpEvent",
    "PumpState",
    "Reason",
    "Refused",
    "ReplyReceived",
    "RequestReceived",
    "Retransmitted",
    "Role",
    "SessionContext",
    "SessionEnded",
    "SessionStarted",
    "SessionTagger",
    "StaleRequest",
    "VerificationBudget",
    "decode_body",
    "default_key_path",
    "encode_frame",
    "permitted",
    "request_id",
    *_messages_all,
]
