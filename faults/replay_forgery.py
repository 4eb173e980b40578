"""An attacker on the line, with no key: replays and forgeries, towards the pump and towards
the programmer library. Nothing may be believed.

The programmer library runs the noisy-link campaign's cycle of changing commands (boluses
spaced by their duration, stop and prime, start, doses within the cap, refills) over a
``SimulatedLine`` on injected time; every ``EPOCH`` commands it closes its session and a new
programmer opens one, numbering its requests from the same first sequence number, so that
an old session's frames carry the very numbers the new one uses. The attacker sees every
byte and, command after command, in turn:

- replays to the pump a changing request sent earlier, byte for byte (this session's: a
  retransmission, answered from the cache; an old session's: refused);
- sends the pump a changing request with a forged tag, under the session's next counter;
- injects an unsigned error reply (any reason) to the programmer's changing request: before
  the pump's signed reply, in place of it, or when the request never reached the pump;
- injects old sessions' signed replies with the request's number, the real one before or
  dropped;
- replaces the pump's signed reply with one whose payload it altered (so the tag is wrong).

A request is accepted by the pump if a frame of the attacker's adds a clinical record (ran,
or was refused as an authenticated request). The library accepts a forgery if it reports a
command done that the pump's log says did not run, or not done that did, or a command ran
twice. The pump's log names each execution by its request (session and counter), so the
truth comes from the pump, not from the library.

    python -m faults.replay_forgery [COMMANDS] [SEED]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from emulator.device import EmulatedDevice
from emulator.simulated_line import ManualClock, SimulatedLine
from faults.noisy_link import Figures, Mix, build_device, count_executions, run_command, tally
from firmware_model import EventLog, LogEntry
from firmware_model.log_kinds import CLINICAL
from programmer import Link, Programmer, ProgrammerError
from protocol import (
    ErrorReply,
    Frame,
    FrameDecoder,
    Keyring,
    MessageType,
    Outgoing,
    Reason,
    Role,
)
from protocol.frame import AUTH, REPLY, frame_body, seal, signed_frame
from protocol.messages import encode_payload

FULL_COMMANDS = 5_000
QUICK_COMMANDS = 500
EPOCH = 100  # commands per session
FIRST_SEQ = 4_242  # every programmer numbers from here: old replies carry new numbers
FORGED_REASONS = (
    Reason.WRONG_STATE,
    Reason.VALUE_OUT_OF_RANGE,
    Reason.DOSE_CHANGE_LIMIT,
    Reason.INTERNAL_ERROR,
    Reason.NOT_AUTHENTICATED,
    Reason.UNKNOWN_SESSION,
    Reason.BAD_TAG,
    Reason.REPLAYED,
    Reason.FORBIDDEN,
    Reason.BAD_CRC,
)
FORGED_TEXT = (
    "forged by the attacker"  # in every forged error: a library that repeats it believed it
)
ATTACKS = (
    "replay to pump",
    "forged tag to pump",
    "forged error to programmer",
    "old reply to programmer",
    "altered reply to programmer",
)


@dataclass
class AttackFigures:
    seed: int
    outcomes: Figures = field(default_factory=lambda: Figures(0))
    replay_attempts: int = 0
    replay_accepted: int = 0
    forged_attempts: int = 0
    forged_accepted: int = 0
    sessions: int = 0
    wall_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        o = self.outcomes
        return (
            f"seed {self.seed}: {o.commands} changing commands in {self.sessions} sessions: "
            f"{o.done} done, {o.not_done} not done ({o.refused_by_state} by the pump's state), "
            f"{o.unknown} unknown, {o.not_sent} not sent; replays {self.replay_attempts} "
            f"({self.replay_accepted} accepted), forgeries {self.forged_attempts} "
            f"({self.forged_accepted} accepted); {self.wall_seconds:.1f} s"
        )


class HostileLine(SimulatedLine):
    """A simulated line with an attacker on it: it acts on each write of the programmer's
    and keeps every signed frame the pump sends."""

    on_write: Callable[[bytes], bytes] | None = None
    pump_frames: list[bytes]

    def write(self, data: bytes) -> None:
        if self.on_write is not None:
            data = self.on_write(data)
        if data:
            super().write(data)

    def _deliver(self, out: bytes) -> None:
        self.pump_frames.extend(b"\xc0" + f + b"\xc0" for f in out.split(b"\xc0") if f)
        super()._deliver(out)

    def swallow(self) -> bytes:
        """What the pump sent and the programmer has not read: taken off the line."""
        data = bytes(self._inbox)
        self._inbox.clear()
        return data


class Records:
    """Every entry the pump's log is given, as it is written: the truth, however many
    entries the rings have since let go."""

    def __init__(self, device: EmulatedDevice) -> None:
        self.clinical = 0
        self.requests: list[tuple[str, object]] = []  # (kind, request name) of each entry
        device.pump.log.listeners.append(self._written)

    def _written(self, entry: LogEntry) -> None:
        self.clinical += EventLog.class_of(entry.kind) is CLINICAL
        self.requests.append((entry.kind, entry.detail.get("req")))


class Attacker:
    def __init__(self, rng: random.Random, records: Records, line: HostileLine) -> None:
        self.rng = rng
        self.records = records
        self.line = line
        self.requests: list[bytes] = []  # every changing request the programmers sent
        self.replies_by_seq: dict[int, list[bytes]] = {}  # old sessions' signed replies
        self.figures: AttackFigures | None = None

    def remember_epoch(self) -> None:
        """The session is over: its signed replies become the attacker's stock by number."""
        for data in self.line.pump_frames:
            for item in FrameDecoder().feed(data):
                if isinstance(item, Frame) and item.flags & AUTH and item.flags & REPLY:
                    self.replies_by_seq.setdefault(item.seq, []).append(data)
        self.line.pump_frames.clear()

    def at_pump(self, frames: list[bytes]) -> bool:
        """Inject frames to the pump now; True if any added a clinical record."""
        before = self.records.clinical
        for data in frames:
            self.line.inject(data)
            self.line.settle()
        self.line.swallow()  # the pump's answers to the attacker are the attacker's
        return self.records.clinical > before

    def forged_request(self, link: Link) -> bytes:
        """A copy of a recent changing request, altered, under the session's next counter,
        with a tag the attacker made up."""
        original = self.rng.choice(self.requests[-20:])
        (frame,) = [f for f in FrameDecoder().feed(original) if isinstance(f, Frame)]
        payload = bytearray(frame.payload or b"\x00")
        payload[self.rng.randrange(len(payload))] ^= 1 << self.rng.randrange(8)
        session_id = link.connection.session_id or frame.session_id
        session = link.connection._session
        counter = (session.tx_counter if session else frame.counter) + self.rng.randint(1, 3)
        return signed_frame(
            AUTH, frame.seq, frame.msg_type, bytes(payload), session_id, counter,
            lambda _signed: self.rng.randbytes(8),
        )  # fmt: skip

    def against_programmer(self, attack: str, outgoing: Outgoing) -> Callable[[bytes], bytes]:
        """The hook for the first write of this request; later writes pass untouched."""
        rng, line = self.rng, self.line
        done: list[bool] = []

        def hook(data: bytes) -> bytes:
            figures = self.figures
            assert figures is not None
            if attack == "forged error to programmer" and data != outgoing.data:
                return self._forge_outcome_answer(data, figures)
            if done or data != outgoing.data:
                return data
            done.append(True)
            if attack == "forged error to programmer":
                reason = rng.choice(FORGED_REASONS)
                seq = 0 if reason is Reason.BAD_CRC else outgoing.seq
                injected = [_unsigned_error(seq, reason, outgoing.msg_type)]
                figures.forged_attempts += 1
            elif attack == "old reply to programmer":
                injected = self.replies_by_seq.get(outgoing.seq, [])[-3:]
                if not injected and self.replies_by_seq:
                    injected = rng.choice(list(self.replies_by_seq.values()))[-1:]
                figures.replay_attempts += len(injected)
            else:  # altered reply: made from the real one, after the pump has sent it
                SimulatedLine.write(line, data)
                real = line.swallow()
                figures.forged_attempts += 1
                line.inject_to_programmer(_altered(rng, real))
                return b""
            where = rng.randrange(3)
            if where == 0:  # the forgery first, then the request and its real reply
                for item in injected:
                    line.inject_to_programmer(item)
                return data
            if where == 1:  # the pump runs it, its reply is lost, the forgery arrives
                SimulatedLine.write(line, data)
                line.swallow()
            for item in injected:  # (where == 2: the request never reached the pump)
                line.inject_to_programmer(item)
            return b""

        return hook

    def _forge_outcome_answer(self, data: bytes, figures: AttackFigures) -> bytes:
        """While the library asks what became of the request (GET_OUTCOME, in a new
        session), an unsigned error for the question, before the pump's signed answer."""
        frames = [f for f in FrameDecoder().feed(data) if isinstance(f, Frame)]
        if frames and frames[0].msg_type == MessageType.GET_OUTCOME and self.rng.random() < 0.5:
            question = frames[0]
            reason = self.rng.choice(FORGED_REASONS)
            self.line.inject_to_programmer(_unsigned_error(question.seq, reason, question.msg_type))
            figures.forged_attempts += 1
        return data


def _unsigned_error(seq: int, reason: Reason, request_type: int) -> bytes:
    error = ErrorReply(reason, request_type, FORGED_TEXT)
    return seal(frame_body(REPLY, seq, int(error.TYPE), encode_payload(error)))


def _altered(rng: random.Random, real: bytes) -> bytes:
    out = bytearray()
    for item in FrameDecoder().feed(real):
        if not isinstance(item, Frame) or not item.payload:
            continue
        payload = bytearray(item.payload)
        payload[rng.randrange(len(payload))] ^= 1 << rng.randrange(8)
        out += signed_frame(
            item.flags, item.seq, item.msg_type, bytes(payload), item.session_id, item.counter,
            lambda _signed, tag=item.tag: tag,  # type: ignore[misc]
        )  # fmt: skip
    return bytes(out)


def _new_programmer(
    line: HostileLine, clock: ManualClock, keys: Keyring, rng: random.Random
) -> tuple[Programmer, list[Outgoing]]:
    sent: list[Outgoing] = []
    link = Link(
        line,
        timeout_s=0.02,
        retries=5,
        budget_s=2.0,
        first_seq=FIRST_SEQ,
        clock=clock,
        sleep=clock.sleep,
        random_bytes=rng.randbytes,
        on_changing_request=sent.append,
    )
    programmer = Programmer(link, "attacked")
    for _ in range(5):
        try:
            programmer.hello()
            programmer.open_session(Role.CLINICIAN, keys)
            return programmer, sent
        except ProgrammerError:
            continue
    raise RuntimeError("could not open a session past the attacker")


def run(
    commands: int = FULL_COMMANDS, seed: int = 20261123, *, budget_s: float = 300.0
) -> AttackFigures:
    """``commands`` commands, or as many as ``budget_s`` allows."""
    started = time.perf_counter()
    rng = random.Random(seed)
    device, keys = build_device(seed)
    clock = ManualClock()
    line = HostileLine(device, clock)
    line.pump_frames = []
    records = Records(device)
    attacker = Attacker(rng, records, line)
    figures = AttackFigures(seed)
    attacker.figures = figures
    programmer, sent = _new_programmer(line, clock, keys, rng)
    figures.sessions = 1
    results: list[tuple[str, Reason | None, list[Outgoing], str, list[str]]] = []
    for index, (_name, action) in enumerate(Mix(clock.advance).commands()):
        if index >= commands or time.perf_counter() - started > budget_s:
            break
        if index and index % EPOCH == 0:
            programmer.link.close_session()
            attacker.remember_epoch()
            programmer, sent = _new_programmer(line, clock, keys, rng)
            figures.sessions += 1
        attack = ATTACKS[index % len(ATTACKS)]
        before = len(sent)
        link = programmer.link
        if attack.endswith("programmer"):
            link.on_changing_request = partial(_arm, line, attacker, attack, sent=sent)
        believed: list[str] = []
        outcome, reason = run_command(programmer, partial(_believing, action, believed))
        line.on_write = None
        link.on_changing_request = sent.append
        ours = sent[before:]
        attacker.requests += [o.data for o in ours]
        results.append((outcome, reason, ours, attack, believed))
        if attack == "replay to pump" and attacker.requests:
            frames = [rng.choice(attacker.requests) for _ in range(3)]
            figures.replay_attempts += len(frames)
            figures.replay_accepted += attacker.at_pump(frames)
        elif attack == "forged tag to pump" and attacker.requests:
            frames = [attacker.forged_request(link) for _ in range(3)]
            figures.forged_attempts += len(frames)
            figures.forged_accepted += attacker.at_pump(frames)
    programmer.link.close_session()
    ran = count_executions(records.requests)
    for outcome, reason, ours, attack, believed in results:
        names = [f"{o.session_id:08x}:{o.counter}" for o in ours]
        wrong_before = figures.outcomes.wrong
        tally(figures.outcomes, outcome, reason, names, ran)
        # A forged error believed is accepted even when the log happens to agree (the
        # request never reached the pump): the library took the attacker's word.
        if figures.outcomes.wrong > wrong_before or believed:
            runs = [ran.get(name, 0) for name in names]
            said = f"; believed: {believed[0]}" if believed else ""
            figures.problems.append(f"{attack}: reported {outcome}, ran {runs}{said}")
            if "reply" in attack:
                figures.replay_accepted += 1
            else:
                figures.forged_accepted += 1
    figures.wall_seconds = time.perf_counter() - started
    return figures


def _believing(
    action: Callable[[Programmer], object], believed: list[str], p: Programmer
) -> object:
    """``action``, noting a failure that repeats a forged error's text: the library took it
    for the pump's word."""
    try:
        return action(p)
    except ProgrammerError as exc:
        if FORGED_TEXT in str(exc):
            believed.append(str(exc))
        raise


def _arm(
    line: HostileLine, attacker: Attacker, attack: str, outgoing: Outgoing, *, sent: list[Outgoing]
) -> None:
    sent.append(outgoing)
    if line.on_write is None:  # the command's first changing request: the one attacked
        line.on_write = attacker.against_programmer(attack, outgoing)


def campaign(quick: bool) -> dict[str, float]:
    figures = run(QUICK_COMMANDS if quick else FULL_COMMANDS)
    print(f"  replay and forgery: {figures.summary()}", flush=True)
    for problem in figures.problems[:10]:
        print(f"  replay and forgery problem: {problem}", flush=True)
    o = figures.outcomes
    return {
        "replay_attempts": float(figures.replay_attempts),
        "replay_accepted": float(figures.replay_accepted),
        "forged_attempts": float(figures.forged_attempts),
        "forged_accepted": float(figures.forged_accepted),
        "attack_commands": float(o.commands),
        "attack_done": float(o.done),
        "attack_not_done": float(o.not_done + o.not_sent),
        "attack_unknown": float(o.unknown),
        "attack_refused_by_state": float(o.refused_by_state),
    }


def main(argv: list[str]) -> int:
    commands = int(argv[0]) if argv else FULL_COMMANDS
    seed = int(argv[1]) if len(argv) > 1 else 20261123
    figures = run(commands, seed)
    print(figures.summary())
    for problem in figures.problems:
        print(f"ACCEPTED: {problem}")
    return 1 if figures.replay_accepted or figures.forged_accepted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
