"""The pump's binary wire protocol, sans-IO: bytes in, typed messages out.

Knows nothing of ports, threads, clocks or the pump model; see docs/protocol.md.
"""

from protocol.auth import Key, Role, SessionTagger
from protocol.codes import (
    NO_DIGEST,
    NOT_MEASURED,
    STOP_CONFIRMATION,
    AlarmCode,
    AlarmFlags,
    Mode,
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
)
from protocol.frame import (
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
from protocol.programmer_connection import ProgrammerConnection
from protocol.pump_connection import PumpConnection
from protocol.reasons import Reason
from protocol.roles import PERMITTED, UNAUTHENTICATED, permitted

__all__ = [
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
    "Mode",
    "NotificationReceived",
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
    "SessionEnded",
    "SessionStarted",
    "SessionTagger",
    "decode_body",
    "default_key_path",
    "encode_frame",
    "permitted",
    *_messages_all,
]
