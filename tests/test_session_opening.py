"""Nobody without a key can keep the clinician out (issue 7, point 4).

Version 1 locked session opening for 15 minutes after five bad proofs that needed no key, and
let any SESSION_OPEN replace the clinician's outstanding challenge. Here the attacker has no
key, only the line; link time is injected.
"""

from __future__ import annotations

import random
from collections import deque

from protocol import (
    ErrorReply,
    ProgrammerEvent,
    Reason,
    Refused,
    Role,
    SessionAuth,
    SessionChallenge,
    SessionOpen,
    SessionOpened,
    encode_payload,
)
from protocol.frame import frame_body, seal
from protocol.pump_connection import MAX_CHALLENGES
from protocol.verification_budget import DEFAULT_LIMIT, DEFAULT_WINDOW_US, VerificationBudget
from tests.protocol.pair import KEYRING, OPERATOR, SERIAL, Pair

US = 1_000_000


def plain_request(seq: int, message: SessionOpen | SessionAuth) -> bytes:
    return seal(frame_body(0, seq, int(message.TYPE), encode_payload(message)))


class Attacker:
    """No key: SESSION_OPEN, read the challenge off the line, answer it with a guess."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._seq = 1

    def open(self, role: int = 1) -> bytes:
        self._seq += 1
        return plain_request(self._seq, SessionOpen(role, self._rng.randbytes(16), "mallory"))

    def guess(self, session_id: int) -> bytes:
        self._seq += 1
        return plain_request(self._seq, SessionAuth(session_id, self._rng.randbytes(16)))


def challenge_in(pair: Pair, data: bytes) -> SessionChallenge:
    replies = [getattr(e, "message", None) for e in pair.deliver_to_programmer(data)]
    (challenge,) = [m for m in replies if isinstance(m, SessionChallenge)]
    return challenge


def clinician_proof_after_others_open(pair: Pair, others: int) -> list[ProgrammerEvent]:
    """The clinician asks for a challenge, ``others`` keyless parties ask for theirs, then
    the clinician answers its own: what comes back."""
    clinician = pair.programmer
    _, opening = clinician.request(
        clinician.begin_session(Role.CLINICIAN, KEYRING.keys[Role.CLINICIAN], SERIAL, OPERATOR)
    )
    challenge = challenge_in(pair, pair.deliver_to_pump(opening))
    attacker = Attacker(others)
    for _ in range(others):
        pair.deliver_to_pump(attacker.open())
    _, proof = clinician.request(clinician.answer_challenge(challenge))
    return pair.deliver_to_programmer(pair.deliver_to_pump(proof))


def test_an_attackers_session_open_does_not_replace_the_clinicians_challenge() -> None:
    pair = Pair()
    # Up to N - 1 others: the clinician's challenge is kept.
    replies = clinician_proof_after_others_open(pair, MAX_CHALLENGES - 1)
    assert any(isinstance(getattr(e, "message", None), SessionOpened) for e in replies)
    assert pair.programmer.session_role is Role.CLINICIAN


def test_n_is_at_least_four_and_an_evicted_challenge_costs_no_verification() -> None:
    assert MAX_CHALLENGES >= 4  # docs/protocol.md, section 4 states N = 8
    pair = Pair()
    # N others: the oldest outstanding challenge, the clinician's, is evicted.
    (event,) = clinician_proof_after_others_open(pair, MAX_CHALLENGES)
    assert isinstance(event.message, ErrorReply)  # type: ignore[union-attr]
    assert event.message.reason is Reason.UNKNOWN_CHALLENGE  # type: ignore[union-attr]
    assert pair.pump.budget.wait_us(pair.now_us) == 0
    assert len(pair.pump.budget._spent) == 0  # no key was looked at
    assert isinstance(pair.open_session(), SessionOpened)  # and the clinician just asks again


def test_proofs_for_unknown_challenges_never_count() -> None:
    pair = Pair()
    attacker = Attacker(3)
    for session_id in range(1, 5_001):
        pair.deliver_to_pump(attacker.guess(session_id))
    refusals = [e.reason for e in pair.pump_events if isinstance(e, Refused)]
    assert set(refusals) == {Reason.UNKNOWN_CHALLENGE}
    assert isinstance(pair.open_session(), SessionOpened)


def test_at_most_100_key_verifications_in_any_30_s() -> None:
    pair = Pair()
    attacker = Attacker(4)
    verified_at: list[int] = []
    for _ in range(10_000):
        pair.now_us += 10_000  # an attempt every 10 ms of link time, for 100 s
        challenge = challenge_in(pair, pair.deliver_to_pump(attacker.open()))
        before = len(pair.pump_events)
        pair.deliver_to_pump(attacker.guess(challenge.session_id))
        reasons = [e.reason for e in pair.pump_events[before:] if isinstance(e, Refused)]
        if reasons == [Reason.AUTH_FAILED]:
            verified_at.append(pair.now_us)
        else:
            assert reasons == [Reason.RATE_LIMITED]
    window: deque[int] = deque()
    for t in verified_at:
        window.append(t)
        while t - window[0] >= DEFAULT_WINDOW_US:
            window.popleft()
        assert len(window) <= DEFAULT_LIMIT
    assert len(verified_at) == 400  # 100 s of attempts: a whole budget every 30 s
    assert VerificationBudget().per_day == 288_000  # guesses a day, as stated
