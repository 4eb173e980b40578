"""The pump's binary wire protocol, sans-IO: bytes in, typed messages out.

Knows nothing of ports, threads, clocks or the pump model; see docs/protocol.md.
"""

from protocol.codes import AlarmFlags, PumpState
from protocol.connection import (
    BadRequest,
    FrameDropped,
    NotificationReceived,
    ProgrammerConnection,
    PumpConnection,
    ReplyReceived,
    RequestReceived,
    Retransmission,
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
from protocol.messages import (
    ErrorReply,
    GetStatus,
    Hello,
    HelloReply,
    Kind,
    Message,
    MessageError,
    MessageType,
    SetDose,
    SetDoseReply,
    StatusReply,
    decode_message,
    encode_payload,
)
from protocol.reasons import Reason

__all__ = [
    "MAX_FRAME_LEN",
    "PROTOCOL_VERSION",
    "AlarmFlags",
    "BadRequest",
    "ErrorReply",
    "Flags",
    "Frame",
    "FrameDecoder",
    "FrameDropped",
    "FrameError",
    "GetStatus",
    "Hello",
    "HelloReply",
    "Kind",
    "Message",
    "MessageError",
    "MessageType",
    "NotificationReceived",
    "ProgrammerConnection",
    "PumpConnection",
    "PumpState",
    "Reason",
    "ReplyReceived",
    "RequestReceived",
    "Retransmission",
    "SetDose",
    "SetDoseReply",
    "StatusReply",
    "decode_body",
    "decode_message",
    "encode_frame",
    "encode_payload",
]
