"""The release rule both slow channels share: max(ready, previous release) + period."""

from __future__ import annotations

from fractions import Fraction

import pytest

from transport import ReleaseSchedule

BYTE_S = Fraction(10, 9600)


def test_back_to_back_bytes_are_one_period_apart_from_the_burst_start() -> None:
    schedule = ReleaseSchedule(BYTE_S)
    schedule.push(b"abc", 2.0)
    assert schedule.next_release_s() == 2.0 + float(BYTE_S)
    assert schedule.pop_due(2.0 + float(2 * BYTE_S)) == b"ab"
    assert schedule.pop_due(2.0 + float(3 * BYTE_S)) == b"c"
    assert schedule.next_release_s() is None
    assert schedule.pending_bytes == 0


def test_bytes_ready_while_the_line_is_busy_wait_their_turn() -> None:
    schedule = ReleaseSchedule(BYTE_S)
    schedule.push(b"x" * 10, 0.0)
    schedule.push(b"y" * 10, 0.005)  # the line is busy until 10 byte-times
    assert schedule.pop_due(float(19 * BYTE_S)) == b"x" * 10 + b"y" * 9
    assert schedule.pop_due(float(20 * BYTE_S)) == b"y"


def test_an_idle_line_starts_a_new_burst() -> None:
    schedule = ReleaseSchedule(BYTE_S)
    schedule.push(b"x" * 10, 0.0)
    schedule.push(b"y" * 10, 5.0)
    assert schedule.pop_due(4.9) == b"x" * 10
    assert schedule.pop_due(5.0 + float(10 * BYTE_S) - 1e-9) == b"y" * 9
    assert schedule.pop_due(5.0 + float(10 * BYTE_S)) == b"y"


def test_a_pure_delay_never_reorders_when_the_delay_shrinks() -> None:
    schedule = ReleaseSchedule()
    schedule.push(b"first", 1.0)  # arrived at 0, delay 1 s
    schedule.push(b"second", 0.1)  # arrived at 0.1, delay now 0
    assert schedule.pop_due(0.5) == b""
    assert schedule.next_release_s() == 1.0
    assert schedule.pop_due(1.0) == b"firstsecond"


def test_nothing_to_push_queues_nothing() -> None:
    schedule = ReleaseSchedule(BYTE_S)
    schedule.push(b"", 0.0)
    assert schedule.next_release_s() is None
    assert schedule.pop_due(100.0) == b""


def test_a_negative_period_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        ReleaseSchedule(Fraction(-1))
