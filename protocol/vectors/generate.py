"""Writes protocol/vectors/v1.json: every message type and every reason code, on the wire.

``python -m protocol.vectors.generate > protocol/vectors/v1.json``; a test fails when the
committed file differs. Keys and nonces are fixed and published in the file, so another
implementation can check its session-key derivation and every tag.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import random
import sys
from typing import Any

from protocol.auth import Key, Role, programmer_proof, pump_proof, session_key, session_tagger
from protocol.codes import (
    NO_DIGEST,
    NOT_MEASURED,
    STOP_CONFIRMATION,
    AlarmCode,
    AlarmFlags,
    Mode,
    PumpState,
)
from protocol.frame import HEADER, Flags, frame_body, seal
from protocol.messages import (
    AckAlarm,
    AckAlarmReply,
    AlarmEntry,
    AlarmNotification,
    AlarmsReply,
    Bolus,
    BolusReply,
    ClockReply,
    ClockSet,
    CommitPrescription,
    Committed,
    ErrorReply,
    GetAlarms,
    GetClock,
    GetPrescription,
    GetStatus,
    Hello,
    HelloReply,
    Kind,
    LogPage,
    LogRecord,
    Message,
    PatientBolus,
    PatientBolusReply,
    PrescriptionReply,
    Prime,
    PrimeReply,
    ReadLog,
    Refill,
    RefillReply,
    SessionAuth,
    SessionChallenge,
    SessionClose,
    SessionClosed,
    SessionOpen,
    SessionOpened,
    SetClock,
    StagePrescription,
    Start,
    Started,
    StatusReply,
    Stop,
    Stopped,
    WireStep,
    encode_payload,
    staged_reply,
)
from protocol.reasons import Reason
from protocol.stuffing import END_BYTE

SERIAL = "EMU000001"
ROLE = Role.CLINICIAN
_RNG = random.Random(20261122)
ROLE_KEY = _RNG.randbytes(32)
SESSION_ID = 0x1234ABCD
PROGRAMMER_NONCE = _RNG.randbytes(16)
PUMP_NONCE = _RNG.randbytes(16)
CONTEXT = (SERIAL, ROLE, SESSION_ID, PROGRAMMER_NONCE, PUMP_NONCE)
KEY = Key(ROLE_KEY)
TAGGER = session_tagger(KEY, *CONTEXT)
SESSION_KEY = session_key(KEY, *CONTEXT)

STAGED = StagePrescription(
    Mode.FLEX, (WireStep(0, 200), WireStep(8 * 3600, 300)), 25, 900, 10_800, 3, 2_000
)


def plain(value: Any) -> Any:
    if isinstance(value, enum.Flag):
        return [m.name for m in type(value) if m.value and m in value]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


class Vectors:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.counters = {Kind.REQUEST: 0, Kind.REPLY: 0, Kind.NOTIFICATION: 0}

    def valid(self, name: str, seq: int, message: Message, auth: bool) -> bytes:
        flags = int(message.KIND.flags) | (int(Flags.AUTH) if auth else 0)
        counter = 0
        if auth:
            self.counters[message.KIND] += 1
            counter = self.counters[message.KIND]
        body = frame_body(
            flags,
            seq,
            int(message.TYPE),
            encode_payload(message),
            SESSION_ID if auth else 0,
            counter,
        )
        wire = seal(body + TAGGER.tag(body)) if auth else seal(body)
        decoded: dict[str, Any] = {
            "kind": message.KIND.value,
            "seq": seq,
            "type": message.TYPE.name,
            "message": type(message).__name__,
            "fields": plain(message),
        }
        if auth:
            decoded.update(session_id=SESSION_ID, counter=counter, tag=TAGGER.tag(body).hex())
        self.entries.append({"name": name, "hex": wire.hex(), "valid": True, "decoded": decoded})
        return wire

    def invalid(self, name: str, wire: bytes, reason: Reason) -> None:
        self.entries.append({"name": name, "hex": wire.hex(), "valid": False, "error": reason.name})


def raw_frame(
    version: int, flags: int, seq: int, msg_type: int, payload: bytes, length: int | None = None
) -> bytes:
    header = HEADER.pack(version, flags, seq, msg_type, len(payload) if length is None else length)
    return seal(header + payload)


def build() -> dict[str, Any]:
    v = Vectors()
    proof = programmer_proof(KEY, *CONTEXT)
    # The handshake, in order.
    v.valid("hello request", 1, Hello(1, 1), auth=False)
    v.valid("hello reply", 1, HelloReply("ITBP-20", SERIAL, "0.2.0", 1, 1, 1), auth=False)
    v.valid("session open (clinician)", 2, SessionOpen(int(ROLE), PROGRAMMER_NONCE), auth=False)
    v.valid("session challenge", 2, SessionChallenge(SESSION_ID, PUMP_NONCE), auth=False)
    v.valid("session auth (programmer proof)", 3, SessionAuth(SESSION_ID, proof), auth=False)
    v.valid(
        "session opened (pump proof), the first signed frame",
        3,
        SessionOpened(pump_proof(KEY, *CONTEXT), int(ROLE), 600),
        auth=True,
    )
    seq = 4

    def pair(name: str, request: Message, reply: Message) -> None:
        nonlocal seq
        v.valid(f"{name} request", seq, request, auth=True)
        v.valid(f"{name} reply", seq, reply, auth=True)
        seq += 1

    status = StatusReply(
        PumpState.INFUSING, Mode.FLEX, AlarmFlags.LOW_RESERVOIR, AlarmFlags.NONE, 300, 600_000,
        744_000, 500, 1_950, 9_000, 874_512, 40_000, 1_795_000_000,
    )  # fmt: skip
    pair("status", GetStatus(), status)
    pair(
        "prescription",
        GetPrescription(),
        PrescriptionReply(Mode.CONTINUOUS, (WireStep(0, 200),), 0, 0, 0, 0, 2_000),
    )
    staged = staged_reply(STAGED)
    pair("stage flex prescription with patient limits", STAGED, staged)
    pair("commit", CommitPrescription(staged.digest), Committed(PumpState.INFUSING, 400_000))
    pair("clinician bolus", Bolus(50, 1_800), BolusReply(100_000, 4_800_000, 1_800))
    pair("priming bolus", Prime(0), PrimeReply(200_000, 24_000_000, 720))
    pair("patient bolus", PatientBolus(), PatientBolusReply(50_000, 4_800_000, 900))
    pair("stop, withdrawal risk confirmed", Stop(STOP_CONFIRMATION), Stopped(PumpState.STOPPED))
    pair("start", Start(), Started(PumpState.INFUSING))
    pair(
        "refill, same concentration",
        Refill(20_000_000, 500, NOT_MEASURED, NO_DIGEST, "baclofen"),
        RefillReply(1_950_000, 1_950_000, 0, PumpState.INFUSING),
    )
    alarms = (AlarmEntry(AlarmCode.LOW_RESERVOIR, 1_794_900_000, 0),)
    pair("alarms", GetAlarms(), AlarmsReply(alarms))
    pair(
        "acknowledge",
        AckAlarm(AlarmCode.LOW_RESERVOIR),
        AckAlarmReply((AlarmEntry(AlarmCode.LOW_RESERVOIR, 1_794_900_000, 1),)),
    )
    pair(
        "event log page",
        ReadLog(40, 2),
        LogPage(
            12,
            44,
            12,
            (
                LogRecord(40, 1_794_900_000, "alarm", "alarm=low_reservoir critical=False"),
                LogRecord(41, 1_794_900_060, "alarm_acknowledged", "alarm=low_reservoir"),
            ),
        ),
    )
    pair("clock read", GetClock(), ClockReply(1_795_000_000))
    pair("clock set", SetClock(1_795_000_100), ClockSet(1_795_000_100))
    v.valid(
        "alarm notification (unsolicited)",
        0,
        AlarmNotification(AlarmCode.OVER_INFUSION, 1, 1_795_000_200, AlarmFlags.OVER_INFUSION),
        auth=True,
    )
    # Every reason code, as the error reply that carries it.
    for reason in Reason:
        signed = reason.value >= 0x10 and reason not in _UNSIGNED_REASONS
        v.valid(
            f"error reply {reason.name}",
            0 if reason.value < 0x08 else seq,
            ErrorReply(reason, 0 if reason.value < 0x08 else 0x10, reason.describe),
            auth=signed,
        )
        if reason.value >= 0x08:
            seq += 1
    pair("session close", SessionClose(), SessionClosed())
    # Frames a receiver must refuse, one per frame-level and message-level reason.
    good = raw_frame(1, 0, 9, 0x10, b"")
    body = bytearray(good[1:-1])
    body[-1] ^= 0x01
    v.invalid("CRC bit flipped", END_BYTE + bytes(body) + END_BYTE, Reason.BAD_CRC)
    v.invalid("escape byte not followed by DC or DD", b"\xc0\x01\xdb\x02\xc0", Reason.BAD_FRAMING)
    v.invalid(
        "four bytes: shorter than header and CRC",
        b"\xc0\x01\x00\x00\x09\xc0",
        Reason.FRAME_TOO_SHORT,
    )
    v.invalid("body of 600 bytes", seal(bytes(598)), Reason.FRAME_TOO_LONG)
    v.invalid("protocol version 2", raw_frame(2, 0, 9, 0x10, b""), Reason.UNSUPPORTED_VERSION)
    v.invalid(
        "unknown flag bit 7 (dropped, no reply)",
        raw_frame(1, 0x80, 9, 0x10, b""),
        Reason.UNKNOWN_FLAGS,
    )
    v.invalid(
        "length field 4, payload 0", raw_frame(1, 0, 9, 0x10, b"", length=4), Reason.BAD_LENGTH
    )
    v.invalid("message type 0x6E", raw_frame(1, 0, 9, 0x6E, b""), Reason.UNKNOWN_MESSAGE)
    v.invalid(
        "status request with a payload", raw_frame(1, 0, 9, 0x10, b"\x00"), Reason.BAD_PAYLOAD
    )
    return {
        "protocol_version": 1,
        "framing": "SLIP (RFC 1055) byte stuffing, 0xC0 delimiters on both sides",
        "crc": "CRC-16/CCITT-FALSE, check 0x29B1",
        "session": {
            "serial_number": SERIAL,
            "role": ROLE.label,
            "role_key": ROLE_KEY.hex(),
            "session_id": SESSION_ID,
            "programmer_nonce": PROGRAMMER_NONCE.hex(),
            "pump_nonce": PUMP_NONCE.hex(),
            "session_key": SESSION_KEY.hex(),
        },
        "vectors": v.entries,
    }


# Errors sent before a session's tag can be trusted, or without a session at all.
_UNSIGNED_REASONS = {
    Reason.NOT_AUTHENTICATED,
    Reason.UNKNOWN_SESSION,
    Reason.BAD_TAG,
    Reason.AUTH_FAILED,
    Reason.RATE_LIMITED,
    Reason.LOCKED_OUT,
    Reason.NO_KEY,
    Reason.UNSUPPORTED_VERSION,
}


def markdown(document: dict[str, Any]) -> str:
    """The vectors section of docs/protocol.md."""
    session = document["session"]
    lines = [
        "Session parameters used by the signed vectors (bytes in hex, integers in decimal):",
        "",
        "| parameter | value |",
        "|---|---|",
        *(f"| {name} | `{value}` |" for name, value in session.items()),
        "",
    ]
    for vector in document["vectors"]:
        if vector["valid"]:
            decoded = vector["decoded"]
            what = f"{decoded['kind']} `{decoded['message']}`, seq {decoded['seq']}"
            if "counter" in decoded:
                what += f", signed, counter {decoded['counter']}"
            fields = json.dumps(decoded["fields"], separators=(", ", ": "))
            lines += [f"**{vector['name']}**: {what}; fields `{fields}`", ""]
        else:
            lines += [f"**{vector['name']}**: refused with `{vector['error']}`", ""]
        lines += ["```", vector["hex"], "```", ""]
    return "\n".join(lines)


def main() -> None:
    document = build()
    if sys.argv[1:] == ["--markdown"]:
        print(markdown(document))
    else:
        print(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
