"""How long a clinician waits after someone without a key has hammered session opening.

A real emulator on a pty; an attacker with no key sends BURST pairs of SESSION_OPEN and a
guessed SESSION_AUTH as fast as the pty allows, then stops; a clinician with the right key
then opens a session with the programmer library, which waits out RATE_LIMITED itself. The
figure is the wall time from the attacker's last frame to the clinician's open session
(docs/protocol.md, section 4: within 30 s, whatever came before).

``simulated_wait_s`` is the same burst on a ``SimulatedLine`` with link time injected: the
test suite's short version, in milliseconds.

    python -m faults.keyless_burst [BURST ...]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from emulator.simulated_line import ManualClock, SimulatedLine
from faults.noisy_link import build_device
from hil_tests.emulator_process import EmulatorProcess
from programmer import Link, Programmer, ProgrammerError
from protocol import (
    ErrorReply,
    ProgrammerConnection,
    Reason,
    ReplyReceived,
    Role,
    SessionAuth,
    SessionChallenge,
    SessionOpen,
)
from protocol.verification_budget import DEFAULT_LIMIT
from transport import ByteChannel, SerialChannel

FULL_BURSTS = (5, 50, 5_000)
# On a SimulatedLine in link time, in every run: beyond the budget, where a lockout would
# show, without a live clinician's 30 s wait (the quick live bursts stay under the budget).
SIMULATED_BURST = 2 * DEFAULT_LIMIT + 1
MAX_SILENT = 10  # unanswered SESSION_OPENs in a row: the attack is over
QUICK_BURSTS = (5, 50)


def attack(port: str, burst: int, seed: int) -> dict[str, int]:
    """BURST keyless attempts; returns how the pump answered the guesses."""
    channel = SerialChannel(port, poll_interval_s=0.5)
    try:
        return burst_on(channel, burst, seed)
    finally:
        channel.close()


def burst_on(
    channel: ByteChannel,
    burst: int,
    seed: int,
    between: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, int]:
    """SESSION_OPEN and a guessed SESSION_AUTH, BURST times, on any channel."""
    rng = random.Random(seed)
    connection = ProgrammerConnection(1, rng.randbytes)
    answers: dict[str, int] = {}
    silent = 0
    for _ in range(burst):
        if silent >= MAX_SILENT:  # the pump no longer answers: stop, the clinician will tell
            break
        between()
        _, opening = connection.request(SessionOpen(1, rng.randbytes(16), "mallory"))
        challenge = _exchange(channel, connection, opening, clock)
        if not isinstance(challenge, SessionChallenge):
            silent += challenge is None
            continue
        silent = 0
        guess = SessionAuth(challenge.session_id, rng.randbytes(16))
        answer = _exchange(channel, connection, connection.request(guess)[1], clock)
        name = answer.reason.name if isinstance(answer, ErrorReply) else type(answer).__name__
        answers[name] = answers.get(name, 0) + 1
    return answers


def _exchange(
    channel: ByteChannel,
    connection: ProgrammerConnection,
    data: bytes,
    clock: Callable[[], float] = time.monotonic,
) -> object:
    channel.write(data)
    deadline = clock() + 1.0
    while clock() < deadline:
        connection.receive_data(channel.read_some(0.05))
        for event in connection.events():
            if isinstance(event, ReplyReceived):
                return event.message
    return None


class ShutOut(Exception):
    """The clinician never got in: the library gave up after ``waited_s``. The figure is that
    wait (finite, so that the JSON stays strict), and the campaign counts the clinician."""

    def __init__(self, waited_s: float, cause: ProgrammerError) -> None:
        super().__init__(f"shut out after {waited_s:.1f} s: {cause}")
        self.waited_s = waited_s


def simulated_wait_s(burst: int, seed: int = 11) -> tuple[float, dict[str, int], list[str]]:
    """The burst and the clinician on a ``SimulatedLine``, an attempt every millisecond of
    link time: the clinician's wait in link seconds, the answers, the library's notices."""
    device, keys = build_device(seed)
    clock = ManualClock()
    line = SimulatedLine(device, clock)
    answers = burst_on(line, burst, burst, lambda: clock.advance(0.001), clock)
    stopped = clock.now_s
    notices: list[str] = []
    link = Link(
        line,
        timeout_s=0.5,
        clock=clock,
        sleep=clock.sleep,
        random_bytes=random.Random(burst).randbytes,
        notice=notices.append,
    )
    programmer = Programmer(link, "clinician")
    try:
        programmer.hello()
        programmer.open_session(Role.CLINICIAN, keys)
    except ProgrammerError as exc:
        raise ShutOut(clock.now_s - stopped, exc) from exc
    if link.connection.session_role is not Role.CLINICIAN:
        raise RuntimeError("the clinician's session did not open")
    return clock.now_s - stopped, answers, notices


def clinician_wait_s(burst: int, seed: int = 1) -> tuple[float, dict[str, int], list[str]]:
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(Path(tmp)) as emulator:
        answers = attack(emulator.port, burst, seed)
        stopped = time.monotonic()
        notices: list[str] = []
        try:
            with Programmer.open(
                emulator.port,
                key_file=emulator.key_file,
                operator="clinician",
                notice=notices.append,
            ):
                waited = time.monotonic() - stopped
        except ProgrammerError as exc:
            raise ShutOut(time.monotonic() - stopped, exc) from exc
    return waited, answers, notices


def campaign(quick: bool) -> dict[str, float]:
    """Live bursts of 5, 50 and 5,000 (quick: 5 and 50), and one of ``SIMULATED_BURST`` on a
    simulated line: the longest clinician wait, and how many clinicians never got in (their
    wait is how long the library tried)."""
    shut_out = 0
    try:
        simulated, _, _ = simulated_wait_s(SIMULATED_BURST)
    except ShutOut as exc:
        print(f"  keyless burst of {SIMULATED_BURST}, simulated: {exc}", flush=True)
        simulated, shut_out = exc.waited_s, shut_out + 1
    else:
        print(
            f"  keyless burst of {SIMULATED_BURST}, simulated: the clinician opened a session "
            f"{simulated:.1f} s of link time after it ended",
            flush=True,
        )
    worst = simulated
    for burst in QUICK_BURSTS if quick else FULL_BURSTS:
        try:
            waited, answers, notices = clinician_wait_s(burst)
        except ShutOut as exc:
            print(f"  keyless burst of {burst}: the clinician was {exc}", flush=True)
            worst, shut_out = max(worst, exc.waited_s), shut_out + 1
            continue
        worst = max(worst, waited)
        limited = answers.get(Reason.RATE_LIMITED.name, 0)
        print(
            f"  keyless burst of {burst}: {limited} guesses rate limited; the clinician "
            f"opened a session {waited:.1f} s after it ended",
            flush=True,
        )
        if burst > DEFAULT_LIMIT and not notices:
            print("  keyless burst: the library never said it was waiting", flush=True)
    return {
        "lockout_max_clinician_delay_s": round(worst, 2),
        "lockout_simulated_delay_s": round(simulated, 2),
        "lockout_clinicians_shut_out": float(shut_out),
    }


def main(argv: list[str] | None = None) -> int:
    bursts = [int(a) for a in (sys.argv[1:] if argv is None else argv)] or [5, 50, 5_000]
    worst = 0.0
    for burst in bursts:
        waited, answers, notices = clinician_wait_s(burst)
        worst = max(worst, waited)
        limited = answers.get(Reason.RATE_LIMITED.name, 0)
        print(
            f"keyless burst of {burst}: guesses answered {answers}; the clinician opened a "
            f"session {waited:.1f} s after the burst ended"
            + (f" ({limited} guesses were rate limited; {notices[-1]})" if notices else "")
        )
    print(f"longest clinician wait: {worst:.1f} s (limit 60 s)")
    return 0 if worst <= 60 else 1


if __name__ == "__main__":
    sys.exit(main())
