"""Message types and their payload layouts, declared once with construct.

Each message is a frozen dataclass whose fields are, in order, the fields of its ``LAYOUT``.
The layouts are compiled (no lambdas) and end with ``Terminated`` so trailing bytes are refused.
All numbers are big-endian unsigned integers in the unit their name states.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, ClassVar, TypeVar, get_type_hints

import construct as c

from protocol.codes import AlarmFlags, PumpState
from protocol.frame import Flags, Frame
from protocol.reasons import Reason

MAX_TEXT_LEN = 160


class MessageType(IntEnum):
    HELLO = 0x01
    GET_STATUS = 0x02
    SET_DOSE = 0x03
    ERROR = 0x7F


class Kind(Enum):
    REQUEST = "request"
    REPLY = "reply"
    NOTIFICATION = "notification"

    @property
    def flags(self) -> Flags:
        return _KIND_FLAGS[self]

    @classmethod
    def of(cls, flags: Flags) -> Kind:
        if flags & Flags.NOTIFICATION:
            return cls.NOTIFICATION
        return cls.REPLY if flags & Flags.REPLY else cls.REQUEST


_KIND_FLAGS = {
    Kind.REQUEST: Flags.NONE,
    Kind.REPLY: Flags.REPLY,
    Kind.NOTIFICATION: Flags.NOTIFICATION,
}


class MessageError(Exception):
    """A sound frame whose message cannot be understood."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.name}: {detail}")
        self.reason = reason
        self.detail = detail


Text = c.PascalString(c.Int8ub, "ascii")
_EMPTY = c.Struct(c.Terminated)


@dataclass(frozen=True, slots=True)
class Message:
    TYPE: ClassVar[MessageType]
    KIND: ClassVar[Kind]
    LAYOUT: ClassVar[Any]
    ENUMS: ClassVar[dict[str, type[Any]]] = {}
    # Payload size when every field is fixed-size; None when a field has a length prefix.
    FIXED_SIZE: ClassVar[int | None] = None


M = TypeVar("M", bound=type[Message])
_REGISTRY: dict[tuple[Kind, int], type[Message]] = {}


def _register(msg_type: MessageType, kind: Kind, layout: Any) -> Any:
    def wrap(cls: M) -> M:
        cls.TYPE = msg_type
        cls.KIND = kind
        cls.LAYOUT = layout.compile()
        try:
            cls.FIXED_SIZE = layout.sizeof()
        except c.SizeofError:
            cls.FIXED_SIZE = None
        hints = get_type_hints(cls)
        cls.ENUMS = {
            f.name: hints[f.name]
            for f in dataclasses.fields(cls)
            if isinstance(hints[f.name], type) and issubclass(hints[f.name], Enum)
        }
        _REGISTRY[(kind, int(msg_type))] = cls
        return cls

    return wrap


@_register(MessageType.HELLO, Kind.REQUEST, _EMPTY)
@dataclass(frozen=True, slots=True)
class Hello(Message):
    """Ask for identity. Always allowed; starts a fresh link (clears the retransmission cache)."""


@_register(
    MessageType.HELLO,
    Kind.REPLY,
    c.Struct(
        "model" / Text,
        "serial_number" / Text,
        "firmware_version" / Text,
        "protocol_version" / c.Int8ub,
        c.Terminated,
    ),
)
@dataclass(frozen=True, slots=True)
class HelloReply(Message):
    model: str
    serial_number: str
    firmware_version: str
    protocol_version: int


@_register(MessageType.GET_STATUS, Kind.REQUEST, _EMPTY)
@dataclass(frozen=True, slots=True)
class GetStatus(Message):
    pass


@_register(
    MessageType.GET_STATUS,
    Kind.REPLY,
    c.Struct(
        "state" / c.Int8ub,
        "alarms" / c.Int16ub,
        "dose_ug_per_day" / c.Int32ub,
        "rate_nl_per_day" / c.Int32ub,
        "concentration_ug_per_ml" / c.Int32ub,
        "reservoir_ul" / c.Int32ub,
        "infused_ug" / c.Int32ub,
        "clock_s" / c.Int64ub,
        c.Terminated,
    ),
)
@dataclass(frozen=True, slots=True)
class StatusReply(Message):
    state: PumpState
    alarms: AlarmFlags
    dose_ug_per_day: int
    rate_nl_per_day: int
    concentration_ug_per_ml: int
    reservoir_ul: int
    infused_ug: int
    clock_s: int


@_register(
    MessageType.SET_DOSE, Kind.REQUEST, c.Struct("dose_ug_per_day" / c.Int32ub, c.Terminated)
)
@dataclass(frozen=True, slots=True)
class SetDose(Message):
    """Program simple continuous delivery at this daily dose, starting now."""

    dose_ug_per_day: int


@_register(
    MessageType.SET_DOSE,
    Kind.REPLY,
    c.Struct("dose_ug_per_day" / c.Int32ub, "rate_nl_per_day" / c.Int32ub, c.Terminated),
)
@dataclass(frozen=True, slots=True)
class SetDoseReply(Message):
    dose_ug_per_day: int
    rate_nl_per_day: int


@_register(
    MessageType.ERROR,
    Kind.REPLY,
    c.Struct(
        "reason" / c.Int8ub,
        "request_type" / c.Int8ub,
        "message" / Text,
        c.Terminated,
    ),
)
@dataclass(frozen=True, slots=True)
class ErrorReply(Message):
    """The request (or the frame) was refused; nothing was executed."""

    reason: Reason
    request_type: int
    message: str


_DECODE_ERRORS = (c.ConstructError, ValueError, struct.error, OverflowError, TypeError)


def message_class(kind: Kind, msg_type: int) -> type[Message] | None:
    return _REGISTRY.get((kind, msg_type))


def all_message_classes() -> list[type[Message]]:
    return list(_REGISTRY.values())


def encode_payload(message: Message) -> bytes:
    """Raise ValueError when a field does not fit its wire type (a local programming error)."""
    fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    if isinstance(message, ErrorReply):
        fields["message"] = _fit_text(message.message)
    try:
        return bytes(type(message).LAYOUT.build(fields))
    except _DECODE_ERRORS as exc:
        raise ValueError(f"{type(message).__name__} does not fit its wire layout: {exc}") from exc


def decode_message(frame: Frame) -> Message:
    """Raise MessageError for an unknown type or a payload that does not fit the layout."""
    kind = Kind.of(frame.flags)
    cls = _REGISTRY.get((kind, frame.msg_type))
    if cls is None:
        raise MessageError(
            Reason.UNKNOWN_MESSAGE, f"no {kind.value} of type 0x{frame.msg_type:02X}"
        )
    payload = frame.payload
    if cls.FIXED_SIZE is not None and len(payload) != cls.FIXED_SIZE:
        raise MessageError(
            Reason.BAD_PAYLOAD, f"{cls.__name__} takes {cls.FIXED_SIZE} bytes, got {len(payload)}"
        )
    try:
        parsed = cls.LAYOUT.parse(payload)
        values = {f.name: parsed[f.name] for f in dataclasses.fields(cls)}
        for name, enum_type in cls.ENUMS.items():
            values[name] = enum_type(values[name])
        message = cls(**values)
        # Compiled construct does not check short reads of byte strings, so a message with
        # a length-prefixed field must re-encode to exactly the bytes received.
        if cls.FIXED_SIZE is None and encode_payload(message) != payload:
            raise ValueError("length prefix disagrees with the bytes present")
    except _DECODE_ERRORS as exc:
        raise MessageError(
            Reason.BAD_PAYLOAD, f"{cls.__name__}: {str(exc).strip() or type(exc).__name__}"
        ) from exc
    return message


def _fit_text(text: str) -> str:
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    return ascii_text[:MAX_TEXT_LEN]
