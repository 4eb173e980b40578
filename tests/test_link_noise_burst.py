"""A burst of unsigned frame-level refusals (a line's noise, answered by the pump) during a
read-only request is retransmitted at once but uses up no retry: over a TCP link the refusals
of 8 KiB of noise can all arrive while the next request waits (issue 10)."""

from __future__ import annotations

import pytest

from programmer import LinkTimeout
from programmer.link import RESENDS_PER_ATTEMPT
from protocol import Reason, StatusReply
from tests.test_link_outcomes import TappedLine, rig, unsigned_error


def test_a_burst_of_unsigned_refusals_does_not_use_up_the_retries() -> None:
    r = rig()
    line = r.line
    assert isinstance(line, TappedLine)
    burst = 3 * (r.link.retries + 1)  # more refusals than the link has attempts
    swallowed: list[bytes] = []

    def refuse_a_burst(data: bytes) -> bytes:
        if len(swallowed) < burst:
            swallowed.append(data)
            line.inject_to_programmer(unsigned_error(0, Reason.BAD_CRC, 0, "noise"))
            return b""
        return data

    line.on_write = refuse_a_burst
    start = r.clock.now_s
    assert isinstance(r.programmer.status(), StatusReply)
    assert len(swallowed) == burst
    assert r.link.retransmissions == burst
    assert r.clock.now_s - start < r.link.timeout_s  # each refusal answered at once


def test_refusals_that_never_stop_still_end_in_a_timeout() -> None:
    r = rig()
    line = r.line
    assert isinstance(line, TappedLine)

    def refuse_all(data: bytes) -> bytes:
        line.inject_to_programmer(unsigned_error(0, Reason.BAD_CRC, 0, "noise"))
        return b""

    line.on_write = refuse_all
    with pytest.raises(LinkTimeout):  # the link gives up, never spins
        r.programmer.status()
    attempts = r.link.retries + 1
    assert r.link.retransmissions <= attempts * (RESENDS_PER_ATTEMPT + 1)
