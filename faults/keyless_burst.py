"""How long a clinician waits after someone without a key has hammered session opening.

A real emulator on a pty; an attacker with no key sends BURST pairs of SESSION_OPEN and a
guessed SESSION_AUTH as fast as the pty allows, then stops; a clinician with the right key
then opens a session with the programmer library, which waits out RATE_LIMITED itself. The
figure is the wall time from the attacker's last frame to the clinician's open session
(docs/protocol.md, section 4: within 30 s, whatever came before).

    python -m faults.keyless_burst [BURST ...]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from hil_tests.emulator_process import EmulatorProcess
from programmer import Programmer
from protocol import (
    ErrorReply,
    ProgrammerConnection,
    Reason,
    ReplyReceived,
    SessionAuth,
    SessionChallenge,
    SessionOpen,
)
from transport import SerialChannel


def attack(port: str, burst: int, seed: int) -> dict[str, int]:
    """BURST keyless attempts; returns how the pump answered the guesses."""
    rng = random.Random(seed)
    channel = SerialChannel(port, poll_interval_s=0.5)
    connection = ProgrammerConnection(1, rng.randbytes)
    answers: dict[str, int] = {}
    try:
        for _ in range(burst):
            _, opening = connection.request(SessionOpen(1, rng.randbytes(16), "mallory"))
            challenge = _exchange(channel, connection, opening)
            if not isinstance(challenge, SessionChallenge):
                continue
            guess = SessionAuth(challenge.session_id, rng.randbytes(16))
            answer = _exchange(channel, connection, connection.request(guess)[1])
            name = answer.reason.name if isinstance(answer, ErrorReply) else type(answer).__name__
            answers[name] = answers.get(name, 0) + 1
    finally:
        channel.close()
    return answers


def _exchange(channel: SerialChannel, connection: ProgrammerConnection, data: bytes) -> object:
    channel.write(data)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        connection.receive_data(channel.read_some(0.05))
        for event in connection.events():
            if isinstance(event, ReplyReceived):
                return event.message
    return None


def clinician_wait_s(burst: int, seed: int = 1) -> tuple[float, dict[str, int], list[str]]:
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(Path(tmp)) as emulator:
        answers = attack(emulator.port, burst, seed)
        stopped = time.monotonic()
        notices: list[str] = []
        with Programmer.open(
            emulator.port, key_file=emulator.key_file, operator="clinician", notice=notices.append
        ):
            waited = time.monotonic() - stopped
    return waited, answers, notices


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
