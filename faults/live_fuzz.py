"""A hundred thousand garbage and mutated frames to a running emulator, and nothing changes.

    campaign --(pty)--> pump-emulator --speed 0 --telemetry-session-cost 0s --control unix:...

A clinician session is opened with the programmer library, a few requests are sent through
it (a status, a dose change within the cap: their exact frames are kept), and the rig takes
a ``snapshot``. Then the line carries, in batches of ``BATCH``, frames of every sort the
decoder campaign makes (bit flips, truncations, splices, length lies, stuffing errors, random
bytes, payloads behind a good CRC) and, signed in the open session: frames with a wrong tag
(any counter), frames with the right tag under a counter already used (a different request:
REPLAYED), and exact copies of the frames the session sent (retransmissions: answered from
the pump's cache, executed never again). After each batch a HELLO numbered ``SYNC_SEQ``
must be answered: the pump is alive and has read everything before it.

Then a second ``snapshot``: it must equal the first except for the link records of the
event log (sessions, refused frames), which is the only thing garbage may leave behind; no
clinical record may be lost. Last, a status through the library in the same session: the
pump still answers its clinician. The emulator's log must hold no line at ERROR.

    python -m faults.live_fuzz [FRAMES] [SEED]
"""

from __future__ import annotations

import contextlib
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from faults.decoder_inputs import (
    bit_flips,
    frames_of,
    length_lie,
    load_seeds,
    mutated_payload,
    random_bytes,
    splice,
    stuffing_error,
    truncation,
)
from faults.rigged_emulator import RiggedEmulator, rigged_emulator
from hil_tests.emulator_process import EmulatorProcess
from programmer import Programmer, ProgrammerError
from protocol import (
    Frame,
    FrameDecoder,
    HelloReply,
    MessageError,
    SessionAuth,
    SessionChallenge,
    decode_message,
    encode_payload,
)
from protocol.frame import AUTH, MAX_PAYLOAD_LEN, frame_body, seal, signed_frame
from protocol.messages import Hello
from rig_control import ControlClient

FULL_FRAMES = 100_000
QUICK_FRAMES = 3_000
BATCH = 16
SYNC_SEQ = 0xFFFE  # the liveness HELLO's number; no fuzzed frame uses it
SYNC_TIMEOUT_S = 20.0  # a busy 2-core machine: generous, only a dead pump reaches it
SYNC_HELLO = seal(frame_body(0, SYNC_SEQ, int(Hello.TYPE), encode_payload(Hello(2, 2)), version=1))
LINK_ONLY = ("written", "link", "link_lost")  # the log's keys that link traffic may change


@dataclass
class LiveFigures:
    seed: int
    frames: int = 0
    batches: int = 0
    replies_bytes: int = 0
    state_changes: int = 0
    crashes: int = 0
    clinical_lost: int = 0
    error_lines: int = 0
    link_records_added: int = 0
    clinical_free: int = -1  # free places in the clinical ring at the first snapshot: 0
    wall_seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {self.frames} frames in {self.batches} batches; "
            f"{self.replies_bytes} bytes came back; state changes {self.state_changes}, "
            f"crashes {self.crashes}, clinical records lost {self.clinical_lost}, "
            f"ERROR lines {self.error_lines}; {self.link_records_added} link records added; "
            f"{self.wall_seconds:.1f} s"
        )


def state_differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Paths where two snapshots differ, link records of the log excepted."""
    return _diff(_without_link(before), _without_link(after), "")


def _without_link(snapshot: dict[str, Any]) -> dict[str, Any]:
    copy = dict(snapshot)
    _strip_log(copy)
    return copy


def _strip_log(node: dict[str, Any]) -> None:
    for key, value in list(node.items()):
        if key == "log" and isinstance(value, dict) and "clinical" in value:
            node[key] = {k: v for k, v in value.items() if k not in LINK_ONLY}
        elif isinstance(value, dict):
            node[key] = dict(value)
            _strip_log(node[key])


def _diff(a: object, b: object, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            found += _diff(a.get(key, "<absent>"), b.get(key, "<absent>"), f"{path}.{key}")
        return found
    return [] if a == b else [path or "."]


def clinical_records(snapshot: dict[str, Any]) -> list[Any]:
    log = _find_log(snapshot)
    return list(log.get("clinical", [])) if log else []


def link_records(snapshot: dict[str, Any]) -> int:
    log = _find_log(snapshot)
    return int(log.get("written", 0)) if log else 0


def _find_log(node: dict[str, Any]) -> dict[str, Any] | None:
    for key, value in node.items():
        if key == "log" and isinstance(value, dict) and "clinical" in value:
            return value
        if isinstance(value, dict):
            found = _find_log(value)
            if found is not None:
                return found
    return None


def fill_clinical_log(rig: ControlClient) -> int:
    """The clinical ring filled to its capacity (restored with copies of its first record):
    a pump that made room for link records by evicting clinical ones shows only in a full
    ring. Returns the records added."""
    snapshot = rig.snapshot()
    log = snapshot["pump"]["log"]
    held = log["clinical"]
    missing = int(snapshot["pump"]["config"]["event_log_capacity"]) - len(held)
    if missing <= 0 or not held:
        return 0
    _, t_us, kind, detail, *rest = held[0]
    written = int(log["written"])
    log["clinical"] = held + [
        [written + n, t_us, kind, dict(detail), *rest] for n in range(missing)
    ]
    log["written"] = written + missing
    rig.restore(snapshot)
    return missing


class Fuzzer:
    """Makes the frames: garbage of every kind, and frames signed in the open session that
    the pump must refuse or answer from its cache."""

    def __init__(self, rng: random.Random, programmer: Programmer, sent: list[bytes]) -> None:
        self._rng = rng
        self._seeds, _ = load_seeds()
        self._frames = frames_of(self._seeds)
        session = programmer.link.connection._session
        if session is None:
            raise RuntimeError("the fuzzer needs an open session")
        self._session = session
        self._sent = sent  # the session's own signed requests, as sent
        self.challenges: deque[int] = deque(maxlen=16)  # ids the pump put on the line
        self.kinds = [
            ("bit flips", bit_flips),
            ("truncation", truncation),
            ("splice", splice),
            ("length lie", length_lie),
            ("stuffing error", stuffing_error),
            ("random bytes", random_bytes),
        ]

    def frame(self) -> tuple[str, bytes]:
        rng = self._rng
        choice = rng.randrange(10)
        if choice < 6:
            name, mutate = self.kinds[choice]
            return name, mutate(rng, self._seeds)
        frame = rng.choice(self._frames)
        payload = mutated_payload(rng, frame.payload)[:MAX_PAYLOAD_LEN]
        seq = rng.randrange(1, SYNC_SEQ)
        if choice < 8 and self.challenges and rng.random() < 0.1:
            guess = SessionAuth(rng.choice(self.challenges), rng.randbytes(16))
            return "guess for a live challenge", seal(
                frame_body(0, seq, int(guess.TYPE), encode_payload(guess))
            )
        if choice < 8:
            flags = 0 if rng.random() < 0.9 else rng.getrandbits(8) & ~AUTH
            version = 2 if rng.random() < 0.9 else rng.choice([0, 1, 3, 255])
            msg_type = frame.msg_type if rng.random() < 0.9 else rng.getrandbits(8)
            return "payload behind a good CRC", seal(
                frame_body(flags, seq, msg_type, payload, version=version)
            )
        session = self._session
        if choice == 8:  # a wrong tag, any counter
            counter = rng.choice([session.tx_counter + 1, session.tx_counter, rng.getrandbits(32)])
            return "signed, bad tag", signed_frame(
                AUTH, seq, frame.msg_type, payload, session.session_id, counter,
                lambda signed: rng.randbytes(8),
            )  # fmt: skip
        if rng.random() < 0.5 and self._sent:  # an exact copy of what the session sent
            return "signed, exact replay", rng.choice(self._sent)
        counter = rng.randint(0, session.tx_counter)  # the right tag, a counter already used
        return "signed, used counter", signed_frame(
            AUTH, seq, frame.msg_type, payload, session.session_id, counter, session.tagger.tag
        )


def run(frames: int = FULL_FRAMES, seed: int = 20261123, *, budget_s: float = 240.0) -> LiveFigures:
    started = time.perf_counter()
    figures = LiveFigures(seed)
    with rigged_emulator() as rigged:
        _fuzz_and_compare(rigged, random.Random(seed), frames, started + budget_s, figures)
    # Every emulator log line at ERROR or with a traceback is a crash too.
    figures.error_lines = len(rigged.error_lines)
    if figures.error_lines:
        figures.crashes += figures.error_lines
        figures.problems.append("emulator log:\n" + "\n".join(rigged.log_lines[-30:]))
    figures.wall_seconds = time.perf_counter() - started
    return figures


def _fuzz_and_compare(
    rigged: RiggedEmulator,
    rng: random.Random,
    frames: int,
    deadline: float,
    figures: LiveFigures,
) -> None:
    emulator, rig = rigged.emulator, rigged.rig
    fill_clinical_log(rig)
    sent: list[bytes] = []
    programmer = Programmer.open(emulator.port, key_file=emulator.key_file, operator="live-fuzz")
    try:
        programmer.status()
        programmer.link.trace = lambda way, data: sent.append(data) if way == "tx" else None
        programmer.status()
        programmer.set_dose(210)  # +5 %: within the dose-change cap
        programmer.link.trace = None
        before = rig.snapshot()
        capacity = int(before["pump"]["config"]["event_log_capacity"])
        figures.clinical_free = capacity - len(clinical_records(before))
        fuzzer = Fuzzer(rng, programmer, sent)
        _fuzz(programmer, fuzzer, emulator, frames, deadline, figures)
        if figures.crashes:  # counted: a dead or deaf pump has no state to compare
            figures.problems.append(f"the emulator's log:\n{emulator.log_tail(30)}")
            return
        after = rig.snapshot()
        differences = state_differences(before, after)
        figures.state_changes = len(differences)
        figures.problems += [f"state changed at {path}" for path in differences[:10]]
        kept = clinical_records(after)
        lost = [entry for entry in clinical_records(before) if entry not in kept]
        figures.clinical_lost = len(lost)
        figures.link_records_added = link_records(after) - link_records(before)
        try:
            programmer.status()
        except ProgrammerError as exc:
            figures.crashes += 1
            figures.problems.append(f"no status after the fuzz: {exc}")
    finally:
        with contextlib.suppress(ProgrammerError, OSError):  # a dead port: said above
            programmer.close()


def _fuzz(
    programmer: Programmer,
    fuzzer: Fuzzer,
    emulator: EmulatorProcess,
    frames: int,
    deadline: float,
    figures: LiveFigures,
) -> None:
    channel = programmer.link.channel
    while figures.frames < frames and time.perf_counter() < deadline:
        batch = bytearray()
        for _ in range(min(BATCH, frames - figures.frames)):
            name, data = fuzzer.frame()
            figures.by_kind[name] = figures.by_kind.get(name, 0) + 1
            batch += data
            figures.frames += 1
        try:
            channel.write(bytes(batch) + b"\xc0" + SYNC_HELLO)  # a delimiter ends any partial
        except OSError:  # the pty's other end is gone
            synced = False
        else:
            synced = _synced(channel, figures, fuzzer.challenges)
        figures.batches += 1
        if not synced:
            figures.crashes += 1
            alive = "running" if emulator.running else f"exited {emulator.returncode}"
            figures.problems.append(f"no answer to HELLO after batch {figures.batches} ({alive})")
            return


def _synced(channel: Any, figures: LiveFigures, challenges: deque[int]) -> bool:
    """True once the HELLO numbered SYNC_SEQ is answered; keeps the challenges seen."""
    decoder = FrameDecoder()
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            data = channel.read_some(0.05)
        except OSError:  # the pty's other end is gone (pyserial's SerialException too)
            return False
        figures.replies_bytes += len(data)
        for item in decoder.feed(data):
            if not isinstance(item, Frame) or item.flags & AUTH:
                continue
            try:
                message = decode_message(item)
            except MessageError:
                continue
            if isinstance(message, SessionChallenge):
                challenges.append(message.session_id)
            elif isinstance(message, HelloReply) and item.seq == SYNC_SEQ:
                return True
    return False


def campaign(quick: bool) -> dict[str, float]:
    figures = run(QUICK_FRAMES if quick else FULL_FRAMES)
    print(f"  live fuzz: {figures.summary()}", flush=True)
    for problem in figures.problems:
        print(f"  live fuzz problem: {problem}", flush=True)
    return {
        "live_fuzz_frames": float(figures.frames),
        "live_fuzz_state_changes": float(figures.state_changes),
        "live_fuzz_crashes": float(figures.crashes),
        "live_fuzz_log_entries_lost": float(figures.clinical_lost),
    }


def main(argv: list[str]) -> int:
    frames = int(argv[0]) if argv else FULL_FRAMES
    seed = int(argv[1]) if len(argv) > 1 else 20261123
    figures = run(frames, seed)
    print(figures.summary())
    print(", ".join(f"{name} {count}" for name, count in sorted(figures.by_kind.items())))
    for problem in figures.problems:
        print(f"PROBLEM: {problem}")
    return 1 if figures.state_changes or figures.crashes or figures.clinical_lost else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
