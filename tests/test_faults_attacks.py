"""``make faults``, attacks, short: replays and forgeries towards the pump and the programmer
library are never believed (``python -m faults.replay_forgery``), and a keyless burst keeps
the clinician out for at most a minute (``python -m faults.keyless_burst``)."""

from __future__ import annotations

import math

import pytest

import faults.keyless_burst as keyless_burst
from faults.keyless_burst import clinician_wait_s, simulated_wait_s
from faults.replay_forgery import FORGED_TEXT, run
from faults.targets import CAMPAIGNS, broken_targets
from programmer import DeviceRefused
from protocol import ErrorReply, ProgrammerConnection, ProgrammerEvent, Reason, ReplyReceived
from protocol.frame import Frame, FrameError
from protocol.verification_budget import DEFAULT_LIMIT, VerificationBudget


def test_replays_and_forgeries_in_five_sessions_are_never_believed() -> None:
    figures = run(500, seed=3)
    print(figures.summary())
    assert figures.problems == []
    assert figures.replay_accepted == 0
    assert figures.forged_accepted == 0
    assert figures.sessions == 5  # old sessions' frames were there to replay
    assert figures.replay_attempts >= 400
    assert figures.forged_attempts >= 400
    outcomes = figures.outcomes
    assert outcomes.commands == 500
    assert outcomes.done + outcomes.not_done + outcomes.unknown + outcomes.not_sent == 500
    assert outcomes.done >= 450  # the attacker delays, it does not deny


def test_a_library_that_believed_unsigned_errors_would_be_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    believing = ProgrammerConnection._classify

    def gullible(self: ProgrammerConnection, item: Frame | FrameError) -> ProgrammerEvent:
        event = believing(self, item)
        if isinstance(event, ReplyReceived) and not event.authenticated:
            return ReplyReceived(event.seq, event.message, authenticated=True)
        return event

    monkeypatch.setattr(ProgrammerConnection, "_classify", gullible)
    figures = run(200, seed=3)
    assert figures.forged_accepted > 0
    assert any("forged error" in problem for problem in figures.problems)


@pytest.mark.parametrize("burst", [5, 50, 5_000])
def test_after_a_keyless_burst_stops_the_clinician_opens_within_60_s(burst: int) -> None:
    waited, answers, notices = simulated_wait_s(burst)
    assert sum(answers.values()) == burst  # every guess was answered
    assert waited <= 60
    if burst > DEFAULT_LIMIT:
        assert any("waiting" in n for n in notices)  # the budget was spent: said, waited
        assert answers["RATE_LIMITED"] == burst - DEFAULT_LIMIT
        print(f"burst of {burst}: the clinician waited {waited:.1f} s of link time")


@pytest.mark.timeout(120)
def test_a_live_keyless_burst_leaves_the_clinician_in_at_once() -> None:
    waited, answers, _ = clinician_wait_s(20)
    assert answers == {"AUTH_FAILED": 20}
    assert waited <= 60


def test_a_forged_error_believed_is_accepted_even_where_the_log_agrees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A library that believes only an unsigned WRONG_STATE: every forgery it repeats as the
    pump's refusal is counted, also for a request the attacker kept from the pump (then the
    log agrees that nothing ran, and only the belief shows)."""
    believing = ProgrammerConnection._classify

    def gullible(self: ProgrammerConnection, item: Frame | FrameError) -> ProgrammerEvent:
        event = believing(self, item)
        if (
            isinstance(event, ReplyReceived)
            and isinstance(event.message, ErrorReply)
            and event.message.reason is Reason.WRONG_STATE
        ):
            return ReplyReceived(event.seq, event.message, authenticated=True)
        return event

    refusals: list[str] = []

    class Noted(DeviceRefused):
        def __init__(self, reason: Reason, message: str) -> None:
            super().__init__(reason, message)
            refusals.append(message)

    monkeypatch.setattr(ProgrammerConnection, "_classify", gullible)
    monkeypatch.setattr("programmer.link.DeviceRefused", Noted)
    figures = run(1_000, seed=1)
    believed = sum(FORGED_TEXT in message for message in refusals)
    assert believed > 0
    assert figures.forged_accepted >= believed


@pytest.mark.timeout(120)
def test_a_lockout_in_place_of_the_rate_limit_fails_even_the_quick_campaign(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The quick live bursts (5, 50) stay under the budget; the simulated one goes beyond it,
    where a lockout keeps the clinician out."""

    def lockout(self: VerificationBudget, now_us: int) -> int:
        return 15 * 60 * 1_000_000 if len(self._spent) >= self.limit else 0

    monkeypatch.setattr(VerificationBudget, "wait_us", lockout)
    figures = keyless_burst.campaign(quick=True)
    assert figures["lockout_clinicians_shut_out"] == 1  # the library gave up waiting
    assert 60 <= figures["lockout_max_clinician_delay_s"] < math.inf  # strict JSON: finite
    assert broken_targets(figures, quick=True, campaigns=(LOCKOUT,)) != []


LOCKOUT = next(campaign for campaign in CAMPAIGNS if campaign.name == "lockout")
