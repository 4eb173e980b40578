"""Writes protocol/vectors/v2.json: a recorded conversation with the reference pump.

``python -m emulator.vectors --write`` writes protocol/vectors/v2.json and the generated
parts of docs/protocol.md (``--markdown`` prints the vectors section, no flag the JSON).
Every request, and every frame that should be refused, is sent to an ``EmulatedDevice``
whose randomness, clock and state are fixed and published in the file; what the pump sends
back is recorded byte for byte. So the vectors are what the pump does, not what someone
thought it did, and a test replays them into a fresh pump and compares.

Each exchange is what one side sends and everything the pump sends back before the next
(notifications included); an exchange with no programmer frame is time passing. A few
encodings are not in the conversation: errors the pump sends but that the conversation
cannot provoke cheaply (RATE_LIMITED, INTERNAL_ERROR: tested on their own), and encodings
never sent (marked ``"sent": false``).
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator.device import EmulatedDevice, Identity
from firmware_model import Pump
from firmware_model.log_kinds import vocabulary
from protocol import (
    NO_DIGEST,
    NOT_MEASURED,
    STOP_CONFIRMATION,
    AckAlarm,
    AlarmCode,
    Bolus,
    CommitPrescription,
    ErrorReply,
    Frame,
    FrameDecoder,
    FrameError,
    GetAlarms,
    GetClock,
    GetLimits,
    GetOutcome,
    GetPrescription,
    GetStatus,
    Hello,
    Key,
    Keyring,
    Kind,
    Message,
    MessageError,
    Mode,
    Outgoing,
    PatientBolus,
    Prime,
    ProgrammerConnection,
    ReadLog,
    ReadLogPages,
    Reason,
    Refill,
    Role,
    SessionAuth,
    SessionChallenge,
    SessionClose,
    SessionOpen,
    SetClock,
    StagePrescription,
    Start,
    Stop,
    WireStep,
    decode_message,
    encode_payload,
)
from protocol.auth import session_key
from protocol.frame import (
    AUTH,
    HEADER,
    HELLO_VERSION,
    NOTIFICATION,
    PROTOCOL_VERSION,
    REPLY,
    frame_body,
    seal,
)
from protocol.stuffing import END_BYTE
from protocol.vectors import plain

SERIAL = "EMU000001"
CLOCK_S = 1_795_000_000  # 2026-11-18 11:06:40 UTC, the pump clock when the conversation starts
US = 1_000_000
_SEED = 20261123


def keyring() -> Keyring:
    """Clinician and patient keys, and deliberately none for read-only (to show NO_KEY)."""
    rng = random.Random(_SEED)
    return Keyring(
        SERIAL, {Role.CLINICIAN: Key(rng.randbytes(32)), Role.PATIENT: Key(rng.randbytes(32))}
    )


def vector_pump() -> Pump:
    """The pump the conversation starts with: new, empty, stopped, its clock set."""
    pump = Pump()
    pump.set_clock(CLOCK_S * US)
    return pump


class ScriptedRandom:
    """The pump's random source: recorded when generating, replayed when testing."""

    def __init__(self, script: list[bytes] | None = None) -> None:
        self._rng = random.Random(_SEED + 1)
        self._script = list(script) if script is not None else None
        self.drawn: list[bytes] = []

    def __call__(self, size: int) -> bytes:
        if self._script is None:
            data = self._rng.randbytes(size)
        else:
            data = self._script.pop(0)
            if len(data) != size:
                raise ValueError(f"the script gives {len(data)} bytes where {size} are drawn")
        self.drawn.append(data)
        return data


def vector_device(random_bytes: Callable[[int], bytes]) -> EmulatedDevice:
    return EmulatedDevice(
        vector_pump(), Identity(serial_number=SERIAL), keyring(), random_bytes=random_bytes
    )


class Conversation:
    """Sends frames to the device and records both sides, exchange by exchange."""

    def __init__(self) -> None:
        self.random = ScriptedRandom()
        self.device = vector_device(self.random)
        self.vectors: list[dict[str, Any]] = []
        self.exchange = 0
        self.sim_us = self.device.pump.t_us
        self.link_us = 1_000 * US
        self.sessions: list[dict[str, Any]] = []
        self.keys: dict[int, bytes] = {}  # session id -> session key, to decode signed frames

    # -- sending -------------------------------------------------------------------------

    def send(self, name: str, data: bytes, expect: str | None = None) -> list[Message]:
        """One exchange: ``data`` from the programmer, then whatever the pump sends."""
        self.exchange += 1
        self._record_programmer(name, data, expect)
        out = self.device.receive(data, self.sim_us, self.link_us)
        return self._record_pump(name, out)

    def wait(self, name: str, sim_s: int) -> list[Message]:
        """Time passes for the pump (not the link): an exchange with no programmer frame."""
        self.exchange += 1
        self.sim_us += sim_s * US
        return self._record_pump(name, self.device.tick(self.sim_us))

    def _at(self) -> dict[str, int]:
        return {"exchange": self.exchange, "sim_us": self.sim_us, "link_us": self.link_us}

    def _record_programmer(self, name: str, data: bytes, expect: str | None) -> None:
        """``expect``: the link-level reason a well-formed frame is refused for."""
        items = FrameDecoder().feed(data)
        entry: dict[str, Any] = {"name": name, "hex": data.hex(), "from": "programmer"}
        item = items[0] if len(items) == 1 else None
        reason: str | None = expect
        if isinstance(item, FrameError):
            reason = item.reason.name
        elif isinstance(item, Frame) and reason is None:
            try:
                entry.update(valid=True, decoded=self._decoded(item))
            except MessageError as exc:
                reason = exc.reason.name
        if "decoded" not in entry:
            assert reason is not None, name
            entry.update(valid=False, error=reason)
        entry.update(self._at())
        self.vectors.append(entry)

    def _record_pump(self, name: str, out: bytes) -> list[Message]:
        messages = []
        frames = [b"\xc0" + chunk + b"\xc0" for chunk in out.split(END_BYTE) if chunk]
        for index, wire in enumerate(frames):
            (frame,) = FrameDecoder().feed(wire)
            assert isinstance(frame, Frame), frame
            message = decode_message(frame)
            messages.append(message)
            label = "notification" if frame.flags & NOTIFICATION else "reply"
            suffix = f" ({index + 1} of {len(frames)})" if len(frames) > 1 else ""
            entry = {
                "name": f"{name}: {label}{suffix}",
                "hex": wire.hex(),
                "from": "pump",
                "valid": True,
                "decoded": self._decoded(frame),
            }
            entry.update(self._at())
            self.vectors.append(entry)
        return messages

    def _decoded(self, frame: Frame) -> dict[str, Any]:
        message = decode_message(frame)
        decoded: dict[str, Any] = {
            "kind": Kind.of(frame.flags).value,
            "version": frame.version,
            "seq": frame.seq,
            "type": message.TYPE.name,
            "message": type(message).__name__,
            "fields": plain(message),
        }
        if frame.flags & AUTH:
            decoded.update(session_id=frame.session_id, counter=frame.counter, tag=frame.tag.hex())
        return decoded

    # -- standalone encodings ------------------------------------------------------------

    def standalone(self, name: str, wire: bytes, sent: bool) -> None:
        (frame,) = FrameDecoder().feed(wire)
        assert isinstance(frame, Frame)
        self.vectors.append(
            {
                "name": name,
                "hex": wire.hex(),
                "from": "pump",
                "valid": True,
                "decoded": self._decoded(frame),
                "sent": sent,
            }
        )


class Programmer:
    """The programmer's side, with its randomness fixed."""

    def __init__(self, talk: Conversation, first_seq: int, seed: int) -> None:
        self.talk = talk
        self.connection = ProgrammerConnection(first_seq, random.Random(seed).randbytes)
        self.last: Outgoing | None = None

    def ask(self, name: str, message: Message, expect: str | None = None) -> list[Message]:
        self.last = self.connection.prepare(message)
        replies = self.talk.send(name, self.last.data, expect)
        self.connection.receive_data(b"".join(_wire(self.talk.vectors, self.talk.exchange)))
        list(self.connection.events())
        return replies

    def open(self, role: Role, operator: str, label: str) -> None:
        key = keyring().keys[role]
        (challenge,) = self.ask(
            f"{label}: session open", self.connection.begin_session(role, key, SERIAL, operator)
        )
        assert isinstance(challenge, SessionChallenge)
        auth = self.connection.answer_challenge(challenge)
        self.ask(f"{label}: session auth, the programmer's proof", auth)
        session = self.talk.device.connection._session
        assert session is not None
        assert self.connection.session_role is role
        context = session.context
        self.talk.sessions.append(
            {
                "name": label,
                "serial_number": context.serial_number,
                "role": role.label,
                "role_key": keyring().keys[role].export_hex(),
                "operator": context.operator,
                "session_id": context.session_id,
                "programmer_nonce": context.programmer_nonce.hex(),
                "pump_nonce": context.pump_nonce.hex(),
                "session_key": session_key(keyring().keys[role], context).hex(),
            }
        )

    def raw(self, msg_type: int, payload: bytes, counter: int | None = None) -> bytes:
        """A signed request of any type and payload, under a counter of our choosing."""
        return self.connection.prepare_raw(msg_type, payload, counter=counter).data


def _wire(vectors: list[dict[str, Any]], exchange: int) -> list[bytes]:
    return [
        bytes.fromhex(v["hex"])
        for v in vectors
        if v.get("exchange") == exchange and v["from"] == "pump"
    ]


def raw(
    version: int, flags: int, seq: int, msg_type: int, payload: bytes, length: int | None = None
) -> bytes:
    header = HEADER.pack(version, flags, seq, msg_type, len(payload) if length is None else length)
    return seal(header + payload)


def unsigned(message: Message, seq: int, version: int = PROTOCOL_VERSION) -> bytes:
    flags = int(message.KIND.flags)
    return seal(frame_body(flags, seq, int(message.TYPE), encode_payload(message), version=version))


def build() -> dict[str, Any]:
    talk = Conversation()
    p = Programmer(talk, first_seq=1, seed=_SEED + 2)
    # -- identity and versions ---------------------------------------------------------
    p.ask("hello, in header version 1", Hello(2, 2))
    talk.send("hello from a version-1 programmer", unsigned(Hello(1, 1), 40, HELLO_VERSION))
    talk.send(
        "status request in header version 1",
        unsigned(GetStatus(), 41, HELLO_VERSION),
        "UNSUPPORTED_VERSION",
    )
    talk.send("header version 3", raw(3, 0, 42, 0x10, b""))
    talk.send("status request without a session", unsigned(GetStatus(), 43))
    # -- opening a session, with what goes wrong on the way -----------------------------
    talk.send(
        "session open for a role without a key",
        unsigned(SessionOpen(int(Role.READ_ONLY), bytes(range(16)), "vectors@bench"), 44),
    )
    talk.send(
        "session auth for a challenge the pump does not hold",
        unsigned(SessionAuth(0x0BADCAFE, bytes(16)), 45),
    )
    other = ProgrammerConnection(46, random.Random(_SEED + 3).randbytes)
    opening = other.begin_session(Role.CLINICIAN, Key(bytes(range(32))), SERIAL, "mallory")
    (challenge,) = talk.send("another party's session open", other.request(opening)[1])
    assert isinstance(challenge, SessionChallenge)
    talk.send(
        "another party's proof, made with a wrong key",
        other.request(other.answer_challenge(challenge))[1],
    )
    p.open(Role.CLINICIAN, "vectors@bench", "clinician session")
    # -- an empty pump --------------------------------------------------------------------
    p.ask("status of a new, empty pump", GetStatus())
    p.ask("limits", GetLimits())
    p.ask("start with nothing programmed", Start())
    p.ask("prime with no drug", Prime(0))
    p.ask("refill, first fill", Refill(2_500_000, 500, NOT_MEASURED, NO_DIGEST, "baclofen"))
    p.ask("prescription, none yet", GetPrescription())
    # -- two-step programming --------------------------------------------------------------
    flex = StagePrescription(
        Mode.FLEX, (WireStep(0, 200), WireStep(8 * 3600, 300)), 25, 900, 900, 1, 2_000
    )
    (staged,) = p.ask("stage flex with patient limits", flex)
    p.ask("commit quoting another digest", CommitPrescription(bytes(16), 1))
    p.ask("commit, starting delivery", CommitPrescription(staged.digest, 1))  # type: ignore[attr-defined]
    p.ask("commit again: nothing staged", CommitPrescription(staged.digest, 1))  # type: ignore[attr-defined]
    p.ask("stage three times the dose", _continuous(900))
    p.ask("stage above the drug library's limit", _continuous(5_000))
    p.ask("stage continuous with two steps", _steps((WireStep(0, 200), WireStep(60, 200))))
    # -- delivery ---------------------------------------------------------------------------
    p.ask("clinician bolus", Bolus(50, 1_800))
    bolus = p.last
    p.ask("prime while a bolus runs", Prime(0))
    p.ask("stop without the confirmation word", Stop(0))
    stop_refused = p.last
    p.ask("stop, withdrawal risk confirmed", Stop(STOP_CONFIRMATION))
    p.ask("priming bolus, catheter volume", Prime(0))
    talk.wait("priming runs its 12 minutes", 13 * 60)
    (stopped_stage,) = p.ask("stage continuous on a stopped pump", _continuous(250))
    p.ask(
        "commit without start: the pump stays stopped",
        CommitPrescription(stopped_stage.digest, 0),  # type: ignore[attr-defined]
    )
    p.ask("start", Start())
    p.ask(
        "refill with a new concentration and no dose",
        Refill(20_000_000, 1_000, NOT_MEASURED, NO_DIGEST, "baclofen"),
    )
    talk.wait("a day passes: the low-reservoir alarm", 86_400)
    p.ask("alarms", GetAlarms())
    p.ask("acknowledge an alarm that is not active", AckAlarm(AlarmCode.EMPTY_RESERVOIR))
    p.ask("acknowledge", AckAlarm(AlarmCode.LOW_RESERVOIR))
    p.ask(
        "refill, same concentration: the alarm clears",
        Refill(20_000_000, 500, 1_000_000, NO_DIGEST, "baclofen"),
    )
    p.ask("event log page", ReadLog(20, 3))
    p.ask("clock read", GetClock())
    p.ask("clock set far out of range", SetClock(2**64 - 1))
    p.ask("clock set", SetClock(CLOCK_S + 90_000))
    clock_set = p.last
    assert clock_set is not None
    talk.send("the clock set again, byte for byte: a retransmission", clock_set.data)
    talk.send("status request with a payload", p.raw(GetStatus.TYPE, b"\x00"))
    talk.send("message type 0x6E", p.raw(0x6E, b""))
    talk.send(
        "a signed request under an old counter, not a copy of what ran",
        p.raw(GetStatus.TYPE, b"", counter=clock_set.counter),
        "REPLAYED",
    )
    talk.send(
        "a signed request with a bad tag",
        _bad_tag(p.connection.prepare(GetStatus()).data),
        "BAD_TAG",
    )
    for _ in range(8):
        p.ask("status", GetStatus())
    talk.send("a copy of a request older than the last 8: dropped, no reply", clock_set.data)
    _frame_errors(talk)
    late = p.connection.prepare(GetStatus())
    p.ask("session close", SessionClose())
    talk.send("a request of the closed session", late.data, "UNKNOWN_SESSION")
    # -- the patient ------------------------------------------------------------------------
    patient = Programmer(talk, first_seq=500, seed=_SEED + 4)
    patient.open(Role.PATIENT, "patient-remote", "patient session")
    patient.ask("patient bolus", PatientBolus())
    patient.ask("patient bolus within the lockout", PatientBolus())
    talk.wait("the lockout passes", 901)
    patient.ask("patient bolus beyond the daily count", PatientBolus())
    patient.ask("stage from a patient session", flex)
    patient.ask("session close (patient)", SessionClose())
    # -- what became of earlier requests ----------------------------------------------------
    again = Programmer(talk, first_seq=900, seed=_SEED + 5)
    again.open(Role.CLINICIAN, "vectors@bench", "clinician session, again")
    first_session = talk.sessions[0]["session_id"]
    assert bolus is not None
    assert stop_refused is not None
    again.ask("outcome of the bolus", GetOutcome(first_session, bolus.counter, bolus.tag))
    again.ask(
        "outcome of the refused stop",
        GetOutcome(first_session, stop_refused.counter, stop_refused.tag),
    )
    again.ask("outcome of a counter never sent", GetOutcome(first_session, 5_000, bytes(8)))
    internal_error = again.connection.sign_as_pump(
        REPLY | AUTH,
        again.connection.prepare(GetStatus()).seq,
        ErrorReply(Reason.INTERNAL_ERROR, int(GetStatus.TYPE), Reason.INTERNAL_ERROR.describe),
        1_000,
    )
    again.ask("session close (clinician, again)", SessionClose())
    # -- the event log in bursts (READ_LOG_PAGES) -------------------------------------------
    reader = Programmer(talk, first_seq=1_200, seed=_SEED + 6)
    reader.open(Role.CLINICIAN, "vectors@bench", "clinician session, reading the log")
    reader.ask("log burst: up to 3 pages of at most 4 entries from 0", ReadLogPages(0, 4, 3))
    burst = reader.last
    assert burst is not None
    talk.send("the log burst request again, byte for byte: the whole burst again", burst.data)
    reader.ask(
        "log burst from 60: pages as full as they go, to the end", ReadLogPages(60, 255, 255)
    )
    reader.ask("log burst from beyond the newest entry: one empty page", ReadLogPages(5_000, 8, 4))
    reader.ask("log burst of 0 pages", ReadLogPages(0, 8, 0))
    reader.ask("session close (reading the log)", SessionClose())
    # -- encodings outside the conversation -------------------------------------------------
    talk.standalone(
        "error reply RATE_LIMITED (sent; provoked on its own: 100 verifications in 30 s)",
        unsigned(
            ErrorReply(
                Reason.RATE_LIMITED, 3, "27 s until the next key verification (at most 100 in 30 s)"
            ),
            1_234,
        ),
        sent=True,
    )
    talk.standalone(
        "error reply INTERNAL_ERROR (sent, signed; provoked on its own)",
        internal_error,
        sent=True,
    )
    for reason in (Reason.UNKNOWN_FLAGS, Reason.WRONG_DIRECTION, Reason.LOCKED_OUT):
        talk.standalone(
            f"error reply {reason.name} (never sent: listed so every implementation logs "
            "the same names)",
            unsigned(ErrorReply(reason, 0, reason.describe), 0),
            sent=False,
        )
    return {
        "protocol_version": PROTOCOL_VERSION,
        "framing": "SLIP (RFC 1055) byte stuffing, 0xC0 delimiters on both sides",
        "crc": "CRC-16/CCITT-FALSE, check 0x29B1",
        "pump": {
            "serial_number": SERIAL,
            "model": "ITBP-20",
            "firmware_version": "0.2.0",
            "clock_s": CLOCK_S,
            "state": "new: empty, stopped, nothing programmed; 20 mL reservoir",
            "keys": {role.label: key.export_hex() for role, key in keyring().keys.items()},
            "random_bytes": [data.hex() for data in talk.random.drawn],
        },
        "sessions": talk.sessions,
        "vectors": talk.vectors,
    }


def _continuous(dose: int) -> StagePrescription:
    return _steps((WireStep(0, dose),))


def _steps(steps: tuple[WireStep, ...]) -> StagePrescription:
    return StagePrescription(Mode.CONTINUOUS, steps, 25, 900, 900, 1, 2_000)


def _bad_tag(data: bytes) -> bytes:
    from protocol.stuffing import unstuff

    body = bytearray(unstuff(data.strip(END_BYTE))[:-2])
    body[-1] ^= 0x01
    return seal(bytes(body))


def _frame_errors(talk: Conversation) -> None:
    good = raw(PROTOCOL_VERSION, 0, 9, 0x10, b"")
    body = bytearray(good[1:-1])
    body[-1] ^= 0x01
    talk.send("CRC bit flipped", END_BYTE + bytes(body) + END_BYTE)
    talk.send("escape byte not followed by DC or DD", b"\xc0\x02\xdb\x02\xc0")
    talk.send("four bytes: shorter than header and CRC", b"\xc0\x02\x00\x00\x09\xc0")
    talk.send("body of 600 bytes", seal(bytes(598)))
    talk.send("length field 4, payload 0", raw(PROTOCOL_VERSION, 0, 9, 0x10, b"", length=4))
    talk.send("unknown flag bit 7: dropped, no reply", raw(PROTOCOL_VERSION, 0x80, 9, 0x10, b""))
    talk.send(
        "a reply sent to the pump: dropped, no reply",
        raw(PROTOCOL_VERSION, REPLY, 9, 0x04, b""),
        "WRONG_DIRECTION",
    )
    talk.send("a request with sequence 0", raw(PROTOCOL_VERSION, 0, 0, 0x10, b""), "BAD_PAYLOAD")


def markdown(document: dict[str, Any]) -> str:
    """The vectors section of docs/protocol.md, section 14."""
    lines = ["The pump the conversation starts with:", ""]
    pump = document["pump"]
    lines += [f"- {name}: `{value}`" for name, value in pump.items() if name != "random_bytes"]
    lines += [
        f"- random_bytes: the {len(pump['random_bytes'])} strings the pump drew, in order "
        "(session ids and nonces), are in the JSON file",
        "",
        "Sessions (bytes in hex, integers in decimal):",
        "",
        "| session | role | operator | session_id | programmer_nonce | pump_nonce | session_key |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in document["sessions"]:
        lines.append(
            f"| {s['name']} | {s['role']} | `{s['operator']}` | `{s['session_id']}` | "
            f"`{s['programmer_nonce']}` | `{s['pump_nonce']}` | `{s['session_key']}` |"
        )
    lines.append("")
    exchange = None
    for vector in document["vectors"]:
        if vector.get("exchange") != exchange:
            exchange = vector.get("exchange")
            heading = (
                f"Exchange {exchange} (link {vector['link_us']} us, pump {vector['sim_us']} us)"
                if exchange is not None
                else "Outside the conversation"
            )
            lines += [f"#### {heading}", ""]
        if vector["valid"]:
            decoded = vector["decoded"]
            what = (
                f"{decoded['kind']} `{decoded['message']}`, v{decoded['version']}, "
                f"seq {decoded['seq']}"
            )
            if "counter" in decoded:
                what += f", signed, session {decoded['session_id']}, counter {decoded['counter']}"
            if vector.get("sent") is False:
                what += ", **never sent**"
            fields = json.dumps(decoded["fields"], separators=(", ", ": "))
            lines += [f"**{vector['name']}** ({vector['from']}): {what}; fields `{fields}`", ""]
        else:
            lines += [
                f"**{vector['name']}** ({vector['from']}): refused with `{vector['error']}`",
                "",
            ]
        lines += ["```", vector["hex"], "```", ""]
    return "\n".join(lines)


def vocabulary_markdown() -> str:
    """The event-log vocabulary table of docs/protocol.md, section 10."""
    lines = ["| kind | class | detail keys | meaning |", "|---|---|---|---|"]
    for kind, log_class, keys, meaning in vocabulary():
        shown = ", ".join(f"`{key}`" for key in keys) or "none"
        lines.append(f"| `{kind}` | {log_class.value} | {shown} | {meaning} |")
    return "\n".join(lines)


def update_specification(path: Path, document: dict[str, Any]) -> None:
    """Replace the generated parts of docs/protocol.md: between their markers."""
    text = path.read_text()
    for name, body in (("log-vocabulary", vocabulary_markdown()), ("vectors", markdown(document))):
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{body}\n{end}{tail}"
    path.write_text(text)


def main() -> None:
    document = build()
    if sys.argv[1:] == ["--markdown"]:
        print(markdown(document))
    elif sys.argv[1:] == ["--write"]:
        root = Path(__file__).resolve().parents[1]
        (root / "protocol" / "vectors" / "v2.json").write_text(
            json.dumps(document, indent=1) + "\n"
        )
        update_specification(root / "docs" / "protocol.md", document)
    else:
        print(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
