"""Message types and their payload layouts, declared once with construct.

Each message is a dataclass whose fields are, in order, the fields of its ``LAYOUT``. Messages
are values: nothing mutates one after it is made (they are not frozen only because a frozen
dataclass takes seven times longer to build, and decoding builds one per frame).
Layouts are compiled (no lambdas) and end with ``Terminated``, so trailing bytes are refused.
A layout of fixed-size integers only is also turned into a ``struct.Struct``, the fast path
for the frames sent most often; the construct declaration stays the single source.
All integers are big-endian, in the unit their name states.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, Flag, IntEnum
from operator import attrgetter
from typing import Any, ClassVar, TypeVar, get_args, get_origin, get_type_hints

import construct as c

from protocol.codes import AlarmCode, AlarmFlags, LogClass, Mode, OutcomeStatus, PumpState
from protocol.frame import DIRECTION_MASK, NOTIFICATION, PROTOCOL_VERSION, REPLY, Flags, Frame
from protocol.reasons import Reason

MAX_TEXT_LEN = 160
DIGEST_LEN = 16
MAX_OPERATOR_LEN = 32
MAX_BURST_PAGES = 32  # READ_LOG_PAGES: the most pages one request is answered with


class MessageType(IntEnum):
    HELLO = 0x01
    SESSION_OPEN = 0x02
    SESSION_AUTH = 0x03
    SESSION_CLOSE = 0x04
    GET_STATUS = 0x10
    GET_PRESCRIPTION = 0x11
    STAGE_PRESCRIPTION = 0x12
    COMMIT_PRESCRIPTION = 0x13
    BOLUS = 0x14
    PRIME = 0x15
    PATIENT_BOLUS = 0x16
    STOP = 0x17
    START = 0x18
    REFILL = 0x19
    GET_ALARMS = 0x1A
    ACK_ALARM = 0x1B
    READ_LOG = 0x1C
    GET_CLOCK = 0x1D
    SET_CLOCK = 0x1E
    GET_LIMITS = 0x1F
    GET_OUTCOME = 0x20
    READ_LOG_PAGES = 0x21
    ALARM_NOTIFICATION = 0x40
    ERROR = 0x7F


class Kind(Enum):
    REQUEST = "request"
    REPLY = "reply"
    NOTIFICATION = "notification"

    @property
    def flags(self) -> Flags:
        return _KIND_FLAGS[self]

    @classmethod
    def of(cls, flags: int) -> Kind:
        return _KIND_OF_DIRECTION[flags & DIRECTION_MASK]


_KIND_FLAGS = {
    Kind.REQUEST: Flags.NONE,
    Kind.REPLY: Flags.REPLY,
    Kind.NOTIFICATION: Flags.NOTIFICATION,
}
_KIND_OF_DIRECTION = {
    0: Kind.REQUEST,
    REPLY: Kind.REPLY,
    NOTIFICATION: Kind.NOTIFICATION,
    REPLY | NOTIFICATION: Kind.NOTIFICATION,
}


class _UnknownCode(ValueError):
    """A code outside its enumeration: a value error, not a layout error."""


class MessageError(Exception):
    """A sound frame whose message cannot be understood."""

    def __init__(self, reason: Reason, detail: str) -> None:
        detail = " ".join(detail.split())  # construct's messages span lines: one line here
        super().__init__(f"{reason.name}: {detail}")
        self.reason = reason
        self.detail = detail


Text = c.PascalString(c.Int8ub, "ascii")
Digest = c.Bytes(DIGEST_LEN)
Nonce = c.Bytes(16)
_EMPTY = c.Struct(c.Terminated)


@dataclass(slots=True)
class Message:
    TYPE: ClassVar[MessageType]
    KIND: ClassVar[Kind]
    LAYOUT: ClassVar[Any]
    FAST: ClassVar[struct.Struct | None] = None  # fixed-size layouts: struct fast path
    FAST_DECODE: ClassVar[Callable[[bytes], Message] | None] = None
    FAST_ENCODE: ClassVar[Callable[[Any], bytes] | None] = None  # variable layouts
    FIELDS: ClassVar[tuple[str, ...]] = ()
    CONVERT: ClassVar[dict[int, Any]] = {}  # field index -> converter from the wire value
    GETTER: ClassVar[Any] = None
    FIXED_BYTES: ClassVar[tuple[tuple[int, int], ...]] = ()  # (field index, exact length)


M = TypeVar("M", bound=type[Message])
_REGISTRY: dict[tuple[Kind, int], type[Message]] = {}
_BY_DIRECTION: dict[tuple[int, int], type[Message]] = {}  # (flags & DIRECTION_MASK, type)
_FORMATS = {
    c.Int8ub: "B",
    c.Int16ub: "H",
    c.Int32ub: "I",
    c.Int64ub: "Q",
    c.Int32sb: "i",
}


def _fast_struct(layout: Any) -> struct.Struct | None:
    formats = []
    for sub in layout.subcons:
        if sub is c.Terminated:
            continue
        inner = getattr(sub, "subcon", None)
        fmt = _FORMATS.get(inner) if inner is not None else None
        if fmt is None:
            return None
        formats.append(fmt)
    return struct.Struct(">" + "".join(formats))


def _fast_decoder(cls: type[Message]) -> Callable[[bytes], Message]:
    """A decoder written for this one fixed layout: one unpack, one constructor call.

    Generated because a generic loop over fields costs more than the HMAC on a status reply.
    struct raises on a payload of the wrong size, and the caller turns that into BAD_PAYLOAD.
    """
    assert cls.FAST is not None
    names = [f"v{i}" for i in range(len(cls.FIELDS))]
    # Enum fields: a member-map lookup in C, the enum's constructor only for new values.
    arguments = [
        f"(m{i}[{name}] if {name} in m{i} else c{i}({name}))" if i in cls.CONVERT else name
        for i, name in enumerate(names)
    ]
    targets = "".join(f"{name}, " for name in names) or "_"
    source = (
        "def decode(payload):\n"
        f"    {targets} = unpack(payload)\n"
        f"    return cls({', '.join(arguments)})\n"
    )
    namespace: dict[str, Any] = {"unpack": cls.FAST.unpack, "cls": cls}
    hints = get_type_hints(cls)
    for i, conv in cls.CONVERT.items():
        namespace[f"c{i}"] = conv
        namespace[f"m{i}"] = hints[cls.FIELDS[i]]._value2member_map_
    exec(source, namespace)
    decode: Callable[[bytes], Message] = namespace["decode"]
    return decode


class _Unsupported(Exception):
    """A construct the encoder generator does not know: construct builds that layout."""


class _EncoderSource:
    """Python source that encodes one layout, generated from its construct declaration:
    consecutive fixed fields are one ``struct`` pack, texts and byte strings are appended as
    they are, arrays are loops. No intermediate dicts, no deep copies (``dataclasses.asdict``
    and construct's build were most of a log page's encode time)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {}
        self._formats = ""
        self._values: list[str] = []
        self._counter = 0

    def name(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def fixed(self, fmt: str, value: str) -> None:
        self._formats += fmt
        self._values.append(value)

    def flush(self, indent: str) -> None:
        if self._values:
            packer = self.name("pack")
            self.namespace[packer] = struct.Struct(">" + self._formats).pack
            self.lines.append(f"{indent}append({packer}({', '.join(self._values)}))")
            self._formats, self._values = "", []

    def fields(self, subcons: Any, obj: str, indent: str) -> None:
        for sub in subcons:
            if sub is c.Terminated:
                continue
            name = getattr(sub, "name", None)
            if name is None:
                raise _Unsupported(repr(sub))
            self.field(sub.subcon, f"{obj}.{name}", indent)

    def field(self, con: Any, value: str, indent: str) -> None:
        fmt = _FORMATS.get(con)
        if fmt is not None:
            self.fixed(fmt, value)
            return
        if isinstance(con, c.Bytes) and isinstance(con.length, int):
            self.flush(indent)
            self.lines.append(f"{indent}append({value})")  # exact length checked by caller
            return
        if isinstance(con, c.StringEncoded) and con.encoding == "ascii":
            prefix = _prefix_format(con.subcon)
            text = self.name("t")
            self.flush(indent)
            self.lines.append(f"{indent}{text} = {value}.encode('ascii')")
            self.fixed(prefix, f"len({text})")
            self.flush(indent)
            self.lines.append(f"{indent}append({text})")
            return
        if isinstance(con, c.Prefixed):
            data = self.name("b")
            self.flush(indent)
            self.lines.append(f"{indent}{data} = {value}")
            self.fixed(_prefix_format(con), f"len({data})")
            self.flush(indent)
            self.lines.append(f"{indent}append({data})")
            return
        if isinstance(con, c.FocusedSeq) and [s.name for s in con.subcons] == ["count", "items"]:
            count, items = con.subcons
            count_fmt = _FORMATS.get(count.subcon.subcon)
            item = items.subcon.subcon
            if count_fmt is None or not isinstance(item, c.Struct):
                raise _Unsupported(repr(con))
            seq, each = self.name("s"), self.name("i")
            self.flush(indent)
            self.lines.append(f"{indent}{seq} = {value}")
            self.fixed(count_fmt, f"len({seq})")
            self.flush(indent)
            self.lines.append(f"{indent}for {each} in {seq}:")
            self.fields(item.subcons, each, indent + "    ")
            self.flush(indent + "    ")
            return
        raise _Unsupported(repr(con))


def _prefix_format(con: Any) -> str:
    if not isinstance(con, c.Prefixed) or con.subcon is not c.GreedyBytes:
        raise _Unsupported(repr(con))
    fmt = _FORMATS.get(con.lengthfield)
    if fmt is None:
        raise _Unsupported(repr(con))
    return fmt


def _fast_encoder(layout: Any) -> Callable[[Any], bytes] | None:
    """An encoder generated from a variable layout's declaration, or None where the layout
    holds a construct the generator does not know (construct then builds it). A test checks
    that it gives construct's bytes for every message."""
    source = _EncoderSource()
    try:
        source.fields(layout.subcons, "m", "    ")
    except _Unsupported:
        return None
    source.flush("    ")
    code = "def encode(m):\n    parts = []\n    append = parts.append\n"
    code += "\n".join(source.lines) + "\n    return b''.join(parts)\n"
    namespace = dict(source.namespace)
    exec(code, namespace)
    encode: Callable[[Any], bytes] = namespace["encode"]
    return encode


def _enum_converter(enum_type: type[Enum]) -> Any:
    members = enum_type._value2member_map_
    if issubclass(enum_type, Flag):
        # A set of flags: any combination of the defined bits, none other. Combinations are
        # not in the member map until first made, so they are checked by their bits.
        defined = 0
        for member in enum_type:
            defined |= int(member.value)

        def convert_flags(value: int) -> Enum:
            if value & ~defined:
                raise _UnknownCode(
                    f"{enum_type.__name__} 0x{value:X} has bits outside 0x{defined:X}"
                )
            return enum_type(value)

        return convert_flags

    def convert(value: int) -> Enum:
        member = members.get(value)
        if member is None:
            codes = ", ".join(str(m.value) for m in enum_type)
            raise _UnknownCode(f"{enum_type.__name__} {value} is not one of {codes}")
        return member

    return convert


def _nested_converter(item_type: type[Any]) -> Any:
    names = [f.name for f in dataclasses.fields(item_type)]
    hints = get_type_hints(item_type)
    enums = {n: _enum_converter(hints[n]) for n in names if _is_enum(hints[n])}

    def convert(items: Any) -> tuple[Any, ...]:
        out = []
        for item in items:
            values = {n: item[n] for n in names}
            for name, conv in enums.items():
                values[name] = conv(values[name])
            out.append(item_type(**values))
        return tuple(out)

    return convert


def _is_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Enum)


def _register(msg_type: MessageType, kind: Kind, layout: Any) -> Any:
    def wrap(cls: M) -> M:
        cls.TYPE = msg_type
        cls.KIND = kind
        cls.LAYOUT = layout.compile()
        cls.FAST = _fast_struct(layout)
        cls.FIELDS = tuple(f.name for f in dataclasses.fields(cls))
        cls.GETTER = attrgetter(*cls.FIELDS) if len(cls.FIELDS) > 1 else None
        hints = get_type_hints(cls)
        convert: dict[int, Any] = {}
        for index, name in enumerate(cls.FIELDS):
            hint = hints[name]
            if _is_enum(hint):
                convert[index] = _enum_converter(hint)
            elif get_origin(hint) is tuple:
                convert[index] = _nested_converter(get_args(hint)[0])
        cls.CONVERT = convert
        cls.FIXED_BYTES = tuple(
            (cls.FIELDS.index(sub.name), sub.subcon.length)
            for sub in layout.subcons
            if isinstance(getattr(sub, "subcon", None), c.Bytes)
            and isinstance(sub.subcon.length, int)
        )
        cls.FAST_DECODE = _fast_decoder(cls) if cls.FAST is not None else None
        cls.FAST_ENCODE = _fast_encoder(layout) if cls.FAST is None else None
        _REGISTRY[(kind, int(msg_type))] = cls
        for direction, direction_kind in _KIND_OF_DIRECTION.items():
            if direction_kind is kind:
                _BY_DIRECTION[(direction, int(msg_type))] = cls
        return cls

    return wrap


# -- identity and sessions (the only requests allowed without a session) ------------------


@_register(
    MessageType.HELLO,
    Kind.REQUEST,
    c.Struct("min_version" / c.Int8ub, "max_version" / c.Int8ub, c.Terminated),
)
@dataclass(slots=True)
class Hello(Message):
    """Who are you, and which protocol versions do we share?"""

    min_version: int = PROTOCOL_VERSION
    max_version: int = PROTOCOL_VERSION


@_register(
    MessageType.HELLO,
    Kind.REPLY,
    c.Struct(
        "model" / Text,
        "serial_number" / Text,
        "firmware_version" / Text,
        "protocol_version" / c.Int8ub,
        "min_version" / c.Int8ub,
        "max_version" / c.Int8ub,
        c.Terminated,
    ),
)
@dataclass(slots=True)
class HelloReply(Message):
    model: str
    serial_number: str
    firmware_version: str
    protocol_version: int  # the version chosen for this link
    min_version: int
    max_version: int


@_register(
    MessageType.SESSION_OPEN,
    Kind.REQUEST,
    c.Struct("role" / c.Int8ub, "programmer_nonce" / Nonce, "operator" / Text, c.Terminated),
)
@dataclass(slots=True)
class SessionOpen(Message):
    """``operator`` names who is programming (1-32 characters); it is bound into the proofs
    and written with every clinical record of the session."""

    role: int
    programmer_nonce: bytes
    operator: str


@_register(
    MessageType.SESSION_OPEN,
    Kind.REPLY,
    c.Struct("session_id" / c.Int32ub, "pump_nonce" / Nonce, c.Terminated),
)
@dataclass(slots=True)
class SessionChallenge(Message):
    session_id: int
    pump_nonce: bytes


@_register(
    MessageType.SESSION_AUTH,
    Kind.REQUEST,
    c.Struct("session_id" / c.Int32ub, "proof" / c.Bytes(16), c.Terminated),
)
@dataclass(slots=True)
class SessionAuth(Message):
    session_id: int
    proof: bytes


@_register(
    MessageType.SESSION_AUTH,
    Kind.REPLY,
    c.Struct("proof" / c.Bytes(16), "role" / c.Int8ub, "idle_timeout_s" / c.Int16ub, c.Terminated),
)
@dataclass(slots=True)
class SessionOpened(Message):
    proof: bytes
    role: int
    idle_timeout_s: int


@_register(MessageType.SESSION_CLOSE, Kind.REQUEST, _EMPTY)
@dataclass(slots=True)
class SessionClose(Message):
    pass


@_register(MessageType.SESSION_CLOSE, Kind.REPLY, _EMPTY)
@dataclass(slots=True)
class SessionClosed(Message):
    pass


# -- status and prescription ---------------------------------------------------------------


@_register(MessageType.GET_STATUS, Kind.REQUEST, _EMPTY)
@dataclass(slots=True)
class GetStatus(Message):
    pass


@_register(
    MessageType.GET_STATUS,
    Kind.REPLY,
    c.Struct(
        "state" / c.Int8ub,
        "mode" / c.Int8ub,
        "alarms" / c.Int16ub,
        "silenced" / c.Int16ub,
        "dose_ug_per_day" / c.Int32ub,
        "rate_nl_per_day" / c.Int32ub,
        "flow_nl_per_day" / c.Int32ub,
        "concentration_ug_per_ml" / c.Int32ub,
        "reservoir_ul" / c.Int32ub,
        "infused_ug" / c.Int32ub,
        "battery_ppm" / c.Int32ub,
        "temperature_mc" / c.Int32ub,
        "clock_s" / c.Int64ub,
        "basal_on" / c.Int8ub,
        "patient_bolus_ends_s" / c.Int64ub,
        c.Terminated,
    ),
)
@dataclass(slots=True)
class StatusReply(Message):
    state: PumpState
    mode: Mode
    alarms: AlarmFlags
    silenced: AlarmFlags
    dose_ug_per_day: int
    rate_nl_per_day: int
    flow_nl_per_day: int
    concentration_ug_per_ml: int
    reservoir_ul: int
    infused_ug: int
    battery_ppm: int
    temperature_mc: int
    clock_s: int
    basal_on: int  # 1: the basal runs, or resumes by itself after a bolus, stall or refill
    patient_bolus_ends_s: int  # pump clock; 0 when no patient bolus runs


@dataclass(slots=True)
class WireStep:
    start_s: int  # seconds after midnight, pump clock
    dose_ug_per_day: int


_PRESCRIPTION_FIELDS = (
    "mode" / c.Int8ub,
    "steps"
    / c.PrefixedArray(c.Int8ub, c.Struct("start_s" / c.Int32ub, "dose_ug_per_day" / c.Int32ub)),
    "patient_dose_ug" / c.Int32ub,
    "patient_duration_s" / c.Int32ub,
    "patient_lockout_s" / c.Int32ub,
    "patient_max_per_day" / c.Int8ub,
    "low_reservoir_ul" / c.Int32ub,
)


@dataclass(slots=True)
class PrescriptionFields(Message):
    """Basal (continuous: one step at 00:00; flex: up to 24), patient limits, alarm volume.

    ``patient_dose_ug`` 0 means no patient boluses are permitted.
    """

    mode: Mode
    steps: tuple[WireStep, ...]
    patient_dose_ug: int
    patient_duration_s: int
    patient_lockout_s: int
    patient_max_per_day: int
    low_reservoir_ul: int


@_register(MessageType.GET_PRESCRIPTION, Kind.REQUEST, _EMPTY)
@dataclass(slots=True)
class GetPrescription(Message):
    pass


@_register(MessageType.GET_PRESCRIPTION, Kind.REPLY, c.Struct(*_PRESCRIPTION_FIELDS, c.Terminated))
@dataclass(slots=True)
class PrescriptionReply(PrescriptionFields):
    pass


@_register(
    MessageType.STAGE_PRESCRIPTION, Kind.REQUEST, c.Struct(*_PRESCRIPTION_FIELDS, c.Terminated)
)
@dataclass(slots=True)
class StagePrescription(PrescriptionFields):
    """Step one of two: the pump checks the prescription and reads it back with a digest."""


@_register(
    MessageType.STAGE_PRESCRIPTION,
    Kind.REPLY,
    c.Struct("digest" / Digest, *_PRESCRIPTION_FIELDS, c.Terminated),
)
@dataclass(slots=True)
class Staged(Message):
    digest: bytes
    mode: Mode
    steps: tuple[WireStep, ...]
    patient_dose_ug: int
    patient_duration_s: int
    patient_lockout_s: int
    patient_max_per_day: int
    low_reservoir_ul: int


@_register(
    MessageType.COMMIT_PRESCRIPTION,
    Kind.REQUEST,
    c.Struct("digest" / Digest, "start" / c.Int8ub, c.Terminated),
)
@dataclass(slots=True)
class CommitPrescription(Message):
    """Step two: apply the staged prescription; the digest proves what the clinician saw.
    ``start`` 1 starts delivery on a stopped pump; 0 leaves the pump's state as it is."""

    digest: bytes
    start: int = 0


@_register(
    MessageType.COMMIT_PRESCRIPTION,
    Kind.REPLY,
    c.Struct("state" / c.Int8ub, "rate_nl_per_day" / c.Int32ub, c.Terminated),
)
@dataclass(slots=True)
class Committed(Message):
    state: PumpState
    rate_nl_per_day: int


# -- delivery ------------------------------------------------------------------------------


@_register(
    MessageType.BOLUS,
    Kind.REQUEST,
    c.Struct("dose_ug" / c.Int32ub, "duration_s" / c.Int32ub, c.Terminated),
)
@dataclass(slots=True)
class Bolus(Message):
    dose_ug: int
    duration_s: int


_BOLUS_REPLY = c.Struct(
    "volume_nl" / c.Int32ub, "rate_nl_per_day" / c.Int32ub, "duration_s" / c.Int32ub, c.Terminated
)


@dataclass(slots=True)
class BolusStarted(Message):
    volume_nl: int
    rate_nl_per_day: int
    duration_s: int


@_register(MessageType.BOLUS, Kind.REPLY, _BOLUS_REPLY)
@dataclass(slots=True)
class BolusReply(BolusStarted):
    pass


@_register(MessageType.PRIME, Kind.REQUEST, c.Struct("volume_nl" / c.Int32ub, c.Terminated))
@dataclass(slots=True)
class Prime(Message):
    volume_nl: int = 0  # 0: the catheter volume


@_register(MessageType.PRIME, Kind.REPLY, _BOLUS_REPLY)
@dataclass(slots=True)
class PrimeReply(BolusStarted):
    pass


@_register(MessageType.PATIENT_BOLUS, Kind.REQUEST, _EMPTY)
@dataclass(slots=True)
class PatientBolus(Message):
    pass


@_register(MessageType.PATIENT_BOLUS, Kind.REPLY, _BOLUS_REPLY)
@dataclass(slots=True)
class PatientBolusReply(BolusStarted):
    pass


@_register(MessageType.STOP, Kind.REQUEST, c.Struct("confirm" / c.Int32ub, c.Terminated))
@dataclass(slots=True)
class Stop(Message):
    """Stop delivery; ``confirm`` must be STOP_CONFIRMATION (withdrawal risk acknowledged)."""

    confirm: int


@_register(MessageType.STOP, Kind.REPLY, c.Struct("state" / c.Int8ub, c.Terminated))
@dataclass(slots=True)
class Stopped(Message):
    state: PumpState


@_register(MessageType.START, Kind.REQUEST, _EMPTY)
@dataclass(slots=True)
class Start(Message):
    """Resume the programmed basal after a stop."""


@_register(MessageType.START, Kind.REPLY, c.Struct("state" / c.Int8ub, c.Terminated))
@dataclass(slots=True)
class Started(Message):
    state: PumpState


@_register(
    MessageType.REFILL,
    Kind.REQUEST,
    c.Struct(
        "volume_nl" / c.Int32ub,
        "concentration_ug_per_ml" / c.Int32ub,
        "measured_nl" / c.Int32ub,
        "digest" / Digest,
        "drug" / Text,
        c.Terminated,
    ),
)
@dataclass(slots=True)
class Refill(Message):
    """Withdraw, measure, fill. With a new concentration, ``digest`` names the staged
    prescription that re-enters the dose; NO_DIGEST (zeros) stages nothing."""

    volume_nl: int
    concentration_ug_per_ml: int
    measured_nl: int  # NOT_MEASURED: take the pump's own figure
    digest: bytes
    drug: str = "baclofen"


@_register(
    MessageType.REFILL,
    Kind.REPLY,
    c.Struct(
        "expected_nl" / c.Int32ub,
        "measured_nl" / c.Int32ub,
        "discrepancy_nl" / c.Int32sb,
        "state" / c.Int8ub,
        c.Terminated,
    ),
)
@dataclass(slots=True)
class RefillReply(Message):
    expected_nl: int
    measured_nl: int
    discrepancy_nl: int
    state: PumpState


# -- alarms, log, clock --------------------------------------------------------------------


@dataclass(slots=True)
class AlarmEntry:
    alarm: AlarmCode
    raised_s: int  # pump clock
    silenced: int  # 1 when acknowledged


_ALARMS_REPLY = c.Struct(
    "alarms"
    / c.PrefixedArray(
        c.Int8ub, c.Struct("alarm" / c.Int8ub, "raised_s" / c.Int64ub, "silenced" / c.Int8ub)
    ),
    c.Terminated,
)


@_register(MessageType.GET_ALARMS, Kind.REQUEST, _EMPTY)
@dataclass(slots=True)
class GetAlarms(Message):
    pass


@dataclass(slots=True)
class AlarmList(Message):
    alarms: tuple[AlarmEntry, ...]


@_register(MessageType.GET_ALARMS, Kind.REPLY, _ALARMS_REPLY)
@dataclass(slots=True)
class AlarmsReply(AlarmList):
    pass


@_register(MessageType.ACK_ALARM, Kind.REQUEST, c.Struct("alarm" / c.Int8ub, c.Terminated))
@dataclass(slots=True)
class AckAlarm(Message):
    alarm: AlarmCode


@_register(MessageType.ACK_ALARM, Kind.REPLY, _ALARMS_REPLY)
@dataclass(slots=True)
class AckAlarmReply(AlarmList):
    pass


@_register(
    MessageType.READ_LOG,
    Kind.REQUEST,
    c.Struct("first" / c.Int32ub, "max_entries" / c.Int8ub, c.Terminated),
)
@dataclass(slots=True)
class ReadLog(Message):
    """Entries from absolute index ``first`` on (older ones may have left the ring)."""

    first: int
    max_entries: int


@dataclass(slots=True)
class LogRecord:
    index: int
    t_s: int  # pump clock
    log_class: LogClass
    kind: str
    detail: str  # "key=value" pairs, space separated


_LOG_PAGE_FIELDS = (
    "oldest" / c.Int32ub,
    "next" / c.Int32ub,
    "clinical_lost" / c.Int32ub,
    "link_lost" / c.Int32ub,
    "entries"
    / c.PrefixedArray(
        c.Int8ub,
        c.Struct(
            "index" / c.Int32ub,
            "t_s" / c.Int64ub,
            "log_class" / c.Int8ub,
            "kind" / Text,
            "detail" / Text,
        ),
    ),
)


@_register(MessageType.READ_LOG, Kind.REPLY, c.Struct(*_LOG_PAGE_FIELDS, c.Terminated))
@dataclass(slots=True)
class LogPage(Message):
    oldest: int  # index of the oldest entry still held, of either class
    next: int  # index the next entry written will have
    clinical_lost: int  # clinical records pushed out of their ring since the pump was made
    link_lost: int  # link records pushed out of theirs
    entries: tuple[LogRecord, ...]  # held entries with index >= first, in index order


@_register(
    MessageType.READ_LOG_PAGES,
    Kind.REQUEST,
    c.Struct("first" / c.Int32ub, "max_entries" / c.Int8ub, "max_pages" / c.Int8ub, c.Terminated),
)
@dataclass(slots=True)
class ReadLogPages(Message):
    """Up to ``max_pages`` consecutive log pages from ``first`` on, in one burst of replies
    (docs/protocol.md, section 7, "Reading the log in bursts")."""

    first: int
    max_entries: int  # per page (1-255), as many as fit
    max_pages: int  # 1-255; at most MAX_BURST_PAGES are sent


@_register(
    MessageType.READ_LOG_PAGES,
    Kind.REPLY,
    c.Struct("page" / c.Int8ub, "pages" / c.Int8ub, *_LOG_PAGE_FIELDS, c.Terminated),
)
@dataclass(slots=True)
class LogBurstPage(Message):
    """One reply of a READ_LOG_PAGES burst: page ``page`` of ``pages`` (0-based), then a
    ``LogPage``'s fields. The burst is complete when page ``pages - 1`` has arrived."""

    page: int
    pages: int
    oldest: int
    next: int
    clinical_lost: int
    link_lost: int
    entries: tuple[LogRecord, ...]

    @property
    def last(self) -> bool:
        return self.page + 1 >= self.pages


@_register(MessageType.GET_CLOCK, Kind.REQUEST, _EMPTY)
@dataclass(slots=True)
class GetClock(Message):
    pass


_CLOCK = c.Struct("clock_s" / c.Int64ub, c.Terminated)


@_register(MessageType.GET_CLOCK, Kind.REPLY, _CLOCK)
@dataclass(slots=True)
class ClockReply(Message):
    clock_s: int  # Unix time, seconds


@_register(MessageType.SET_CLOCK, Kind.REQUEST, _CLOCK)
@dataclass(slots=True)
class SetClock(Message):
    clock_s: int


@_register(MessageType.SET_CLOCK, Kind.REPLY, _CLOCK)
@dataclass(slots=True)
class ClockSet(Message):
    clock_s: int


@_register(MessageType.GET_LIMITS, Kind.REQUEST, _EMPTY)
@dataclass(slots=True)
class GetLimits(Message):
    """What a programmer needs to pre-validate a request, signed (never only in HELLO)."""


@dataclass(slots=True)
class DrugEntry:
    name: str
    max_dose_ug_per_day: int
    max_bolus_ug: int
    min_concentration_ug_per_ml: int
    max_concentration_ug_per_ml: int


@_register(
    MessageType.GET_LIMITS,
    Kind.REPLY,
    c.Struct(
        "reservoir_capacity_ul" / c.Int32ub,
        "low_reservoir_min_ul" / c.Int32ub,
        "low_reservoir_max_ul" / c.Int32ub,
        "min_rate_nl_per_day" / c.Int32ub,
        "max_rate_nl_per_day" / c.Int32ub,
        "min_bolus_duration_s" / c.Int32ub,
        "max_bolus_duration_s" / c.Int32ub,
        "max_prime_nl" / c.Int32ub,
        "catheter_volume_nl" / c.Int32ub,
        "refill_discrepancy_nl" / c.Int32ub,
        "empty_nl" / c.Int32ub,
        "max_dose_increase_pct" / c.Int16ub,
        "max_flex_steps" / c.Int8ub,
        "max_patient_boluses_per_day" / c.Int8ub,
        "min_clock_s" / c.Int64ub,
        "max_clock_s" / c.Int64ub,
        "drugs"
        / c.PrefixedArray(
            c.Int8ub,
            c.Struct(
                "name" / Text,
                "max_dose_ug_per_day" / c.Int32ub,
                "max_bolus_ug" / c.Int32ub,
                "min_concentration_ug_per_ml" / c.Int32ub,
                "max_concentration_ug_per_ml" / c.Int32ub,
            ),
        ),
        c.Terminated,
    ),
)
@dataclass(slots=True)
class LimitsReply(Message):
    reservoir_capacity_ul: int
    low_reservoir_min_ul: int
    low_reservoir_max_ul: int
    min_rate_nl_per_day: int
    max_rate_nl_per_day: int
    min_bolus_duration_s: int
    max_bolus_duration_s: int
    max_prime_nl: int
    catheter_volume_nl: int
    refill_discrepancy_nl: int  # a refill's expected and measured residuals this far apart
    empty_nl: int  # at or below this the reservoir is empty: delivery stops
    max_dose_increase_pct: int  # 0: no cap
    max_flex_steps: int
    max_patient_boluses_per_day: int
    min_clock_s: int
    max_clock_s: int
    drugs: tuple[DrugEntry, ...]


@_register(
    MessageType.GET_OUTCOME,
    Kind.REQUEST,
    c.Struct("session_id" / c.Int32ub, "counter" / c.Int32ub, "tag" / c.Bytes(8), c.Terminated),
)
@dataclass(slots=True)
class GetOutcome(Message):
    """What became of a changing request of an ended session: named by the session, the
    request's counter in it and the request frame's tag (an idempotency key)."""

    session_id: int
    counter: int
    tag: bytes


@_register(
    MessageType.GET_OUTCOME,
    Kind.REPLY,
    c.Struct(
        "status" / c.Int8ub,
        "request_type" / c.Int8ub,
        "reply_type" / c.Int8ub,
        "reply" / c.Prefixed(c.Int16ub, c.GreedyBytes),
        c.Terminated,
    ),
)
@dataclass(slots=True)
class OutcomeReply(Message):
    status: OutcomeStatus
    request_type: int  # 0 unless DONE or NOT_DONE
    reply_type: int  # the type of the reply attached: the request's, or ERROR
    reply: bytes  # that reply's payload, exactly as it was sent


@_register(
    MessageType.ALARM_NOTIFICATION,
    Kind.NOTIFICATION,
    c.Struct(
        "alarm" / c.Int8ub,
        "raised" / c.Int8ub,
        "at_s" / c.Int64ub,
        "active" / c.Int16ub,
        c.Terminated,
    ),
)
@dataclass(slots=True)
class AlarmNotification(Message):
    alarm: AlarmCode
    raised: int  # 1 raised, 0 cleared
    at_s: int  # pump clock
    active: AlarmFlags


@_register(
    MessageType.ERROR,
    Kind.REPLY,
    c.Struct("reason" / c.Int8ub, "request_type" / c.Int8ub, "message" / Text, c.Terminated),
)
@dataclass(slots=True)
class ErrorReply(Message):
    """The request (or the frame) was refused; nothing was executed."""

    reason: Reason
    request_type: int
    message: str


_DECODE_ERRORS = (c.ConstructError, ValueError, struct.error, OverflowError, TypeError, KeyError)


def all_message_classes() -> list[type[Message]]:
    return list(_REGISTRY.values())


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [
            dataclasses.asdict(item)
            if dataclasses.is_dataclass(item) and not isinstance(item, type)
            else item
            for item in value
        ]
    return value


def encode_payload(message: Message) -> bytes:
    """Raise ValueError when a field does not fit its wire type (a local programming error)."""
    cls = type(message)
    try:
        if cls.FAST is not None:
            if not cls.FIELDS:
                return b""
            values = cls.GETTER(message) if cls.GETTER else (getattr(message, cls.FIELDS[0]),)
            return cls.FAST.pack(*values)
        if cls.FIXED_BYTES:
            _check_fixed_bytes(cls, [getattr(message, name) for name in cls.FIELDS])
        if isinstance(message, ErrorReply):
            message = ErrorReply(message.reason, message.request_type, _fit_text(message.message))
        fast_encode = cls.FAST_ENCODE
        if fast_encode is not None:
            return fast_encode(message)
        return build_with_construct(message)
    except _DECODE_ERRORS as exc:
        raise ValueError(f"{cls.__name__} does not fit its wire layout: {exc}") from exc


def build_with_construct(message: Message) -> bytes:
    """The payload as construct builds it from the declared layout: what the generated
    encoders must agree with, byte for byte."""
    cls = type(message)
    fields = {name: _plain(getattr(message, name)) for name in cls.FIELDS}
    return bytes(cls.LAYOUT.build(fields))


def decode_message(frame: Frame) -> Message:
    """Raise MessageError for an unknown type, a payload that does not fit the layout
    (BAD_PAYLOAD) or, in a request, a code outside its enumeration (VALUE_OUT_OF_RANGE).

    The rule (docs/protocol.md, section 7): sizes, counts, prefixes and text bytes are
    layout; what the numbers mean is value.
    """
    cls = _BY_DIRECTION.get((frame.flags & DIRECTION_MASK, frame.msg_type))
    if cls is None:
        kind = Kind.of(frame.flags).value
        raise MessageError(Reason.UNKNOWN_MESSAGE, f"no {kind} of type 0x{frame.msg_type:02X}")
    payload = frame.payload
    try:
        fast_decode = cls.FAST_DECODE
        if fast_decode is not None:
            return fast_decode(payload)
        parsed = cls.LAYOUT.parse(payload)
        values = [parsed[name] for name in cls.FIELDS]
        _check_fixed_bytes(cls, values)
        _check_text(values)
        for index, convert in cls.CONVERT.items():
            values[index] = convert(values[index])
        message = cls(*values)
        # Compiled construct does not check short reads of byte strings, so a message with
        # a variable-length field must re-encode to exactly the bytes received.
        if encode_payload(message) != payload:
            raise ValueError("length prefix disagrees with the bytes present")
    except _UnknownCode as exc:
        if cls.KIND is Kind.REQUEST:
            raise MessageError(Reason.VALUE_OUT_OF_RANGE, f"{cls.__name__}: {exc}") from exc
        raise MessageError(Reason.BAD_PAYLOAD, f"{cls.__name__}: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise MessageError(
            Reason.BAD_PAYLOAD, f"{cls.__name__}: {str(exc).strip() or type(exc).__name__}"
        ) from exc
    return message


def _check_fixed_bytes(cls: type[Message], values: list[Any]) -> None:
    """Compiled construct reads a short ``Bytes(n)`` at the end of a payload without a word,
    and builds one back the same: so the exact length is checked here."""
    for index, length in cls.FIXED_BYTES:
        if len(values[index]) != length:
            name = cls.FIELDS[index]
            raise ValueError(f"{name} is {len(values[index])} bytes, not {length}")


def _check_text(values: list[Any]) -> None:
    """``text`` is printable ASCII, 0x20-0x7E: anything else is not that layout."""
    for value in values:
        if isinstance(value, str):
            if not (value.isascii() and value.isprintable()):
                raise ValueError("text with a byte outside 0x20-0x7E")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _check_text(list(item.values()))


def decode_attached_reply(reply_type: int, payload: bytes) -> Message:
    """A reply carried inside another (``OutcomeReply``), decoded as if it came alone."""
    return decode_message(Frame(REPLY, 0, reply_type, payload))


def as_stage_request(message: PrescriptionFields | Staged) -> StagePrescription:
    """Any message that carries a prescription, as the request that would stage it."""
    return StagePrescription(
        message.mode,
        message.steps,
        message.patient_dose_ug,
        message.patient_duration_s,
        message.patient_lockout_s,
        message.patient_max_per_day,
        message.low_reservoir_ul,
    )


def staged_reply(request: StagePrescription) -> Staged:
    """The pump's read-back of a staged prescription, with the digest a commit must quote."""
    return Staged(
        prescription_digest(request),
        request.mode,
        request.steps,
        request.patient_dose_ug,
        request.patient_duration_s,
        request.patient_lockout_s,
        request.patient_max_per_day,
        request.low_reservoir_ul,
    )


def prescription_digest(message: PrescriptionFields | Staged) -> bytes:
    """SHA-256 of the canonical prescription bytes, truncated: what a commit must quote."""
    canonical = encode_payload(as_stage_request(message))
    return hashlib.sha256(b"ITB2 prescription" + canonical).digest()[:DIGEST_LEN]


def printable(text: str, limit: int = MAX_TEXT_LEN) -> str:
    """``text`` as the wire's ``text`` type allows it: one line of printable ASCII (line
    breaks and tabs become spaces, anything else "?"), at most ``limit`` characters."""
    return "".join(
        ch if " " <= ch <= "~" else (" " if ch in "\t\n\r" else "?") for ch in text[:limit]
    )


def _fit_text(text: str) -> str:
    return printable(text)


__all__ = [
    "DIGEST_LEN",
    "MAX_BURST_PAGES",
    "MAX_OPERATOR_LEN",
    "MAX_TEXT_LEN",
    "AckAlarm",
    "AckAlarmReply",
    "AlarmEntry",
    "AlarmList",
    "AlarmNotification",
    "AlarmsReply",
    "Bolus",
    "BolusReply",
    "BolusStarted",
    "ClockReply",
    "ClockSet",
    "CommitPrescription",
    "Committed",
    "DrugEntry",
    "ErrorReply",
    "GetAlarms",
    "GetClock",
    "GetLimits",
    "GetOutcome",
    "GetPrescription",
    "GetStatus",
    "Hello",
    "HelloReply",
    "Kind",
    "LimitsReply",
    "LogBurstPage",
    "LogPage",
    "LogRecord",
    "Message",
    "MessageError",
    "MessageType",
    "OutcomeReply",
    "PatientBolus",
    "PatientBolusReply",
    "PrescriptionFields",
    "PrescriptionReply",
    "Prime",
    "PrimeReply",
    "ReadLog",
    "ReadLogPages",
    "Refill",
    "RefillReply",
    "SessionAuth",
    "SessionChallenge",
    "SessionClose",
    "SessionClosed",
    "SessionOpen",
    "SessionOpened",
    "SetClock",
    "StagePrescription",
    "Staged",
    "Start",
    "Started",
    "StatusReply",
    "Stop",
    "Stopped",
    "WireStep",
    "all_message_classes",
    "as_stage_request",
    "build_with_construct",
    "decode_attached_reply",
    "decode_message",
    "encode_payload",
    "prescription_digest",
    "printable",
    "staged_reply",
]
