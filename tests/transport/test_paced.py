"""A paced channel is as slow as a UART at its baud rate, exactly on average, both ways.

Unit tests on a fake clock prove the arithmetic; the acceptance test on a real pty proves
the channel keeps time when driven like the emulator's serve loop.
"""

from __future__ import annotations

import math
import time
from fractions import Fraction

import pytest

from tests.transport.fakes import FakeChannel, FakeClock
from transport import PacedChannel, PtyChannel, SerialChannel
from transport.schedule import MIN_WAIT_S

BAUD = 9600
BYTES_PER_S = BAUD // 10


def paced(baud: int = BAUD) -> tuple[PacedChannel, FakeChannel, FakeClock]:
    clock = FakeClock()
    inner = FakeChannel(clock)
    return PacedChannel(inner, baud, clock=clock), inner, clock


def test_960_bytes_at_9600_baud_take_exactly_one_second() -> None:
    channel, inner, clock = paced()
    channel.write(bytes(range(256)) * 3 + bytes(192))
    assert channel.pending_out_bytes == 960
    assert inner.written() == b""
    clock.now_s = 1.0 - 1e-9
    channel.flush_due()
    assert len(inner.written()) == 959
    clock.now_s = 1.0
    channel.flush_due()
    assert inner.written() == bytes(range(256)) * 3 + bytes(192)
    assert channel.pending_out_bytes == 0
    assert channel.next_due_s() is None


def test_each_byte_leaves_when_its_last_bit_is_sent() -> None:
    channel, inner, clock = paced()
    channel.write(b"x" * 960)
    assert channel.next_due_s() == pytest.approx(10 / BAUD)
    for sent in (1, 7, 480, 959):
        clock.now_s = float(Fraction(sent * 10, BAUD))
        channel.flush_due()
        assert len(inner.written()) == sent
        assert channel.pending_out_bytes == 960 - sent


def test_read_some_drains_the_output_on_time_never_sleeping_past_a_due_byte() -> None:
    channel, inner, _ = paced()
    channel.write(b"y" * 960)
    while channel.pending_out_bytes:
        assert channel.read_some(0.05) == b""
    for at_s, _ in inner.writes:
        sent_by_then = sum(len(data) for t_s, data in inner.writes if t_s <= at_s)
        assert sent_by_then <= math.floor(at_s * BYTES_PER_S + 1e-9)  # never early
    assert 1.0 <= inner.writes[-1][0] <= 1.0 + MIN_WAIT_S + 1e-9  # late by a wake-up at most
    assert max(inner.waits_s) <= 0.05


def test_received_bytes_reach_the_caller_when_their_last_bit_would_have() -> None:
    channel, inner, clock = paced()
    inner.arrive(0.0, b"z" * 960)
    released: list[tuple[float, bytes]] = []
    while sum(len(data) for _, data in released) < 960:
        data = channel.read_some(0.05)
        if data:
            released.append((clock.now_s, data))
    total = 0
    for at_s, data in released:
        total += len(data)
        assert total <= math.floor(at_s * BYTES_PER_S + 1e-9)
    assert released[0][0] >= 10 / BAUD
    assert 1.0 <= released[-1][0] <= 1.0 + MIN_WAIT_S + 1e-9
    assert b"".join(data for _, data in released) == b"z" * 960


def test_a_read_waits_no_longer_than_its_timeout_nor_than_the_next_byte() -> None:
    channel, inner, clock = paced()
    inner.arrive(0.0, b"q" * 96)  # 0.1 s on the line
    assert channel.read_some(0.0) == b""
    assert channel.pending_in_bytes == 96
    assert channel.read_some(0.0005) == b""
    assert clock.now_s == pytest.approx(0.0005)
    assert channel.read_some(0.05) == b"q"
    assert clock.now_s == pytest.approx(10 / BAUD, abs=MIN_WAIT_S)


def test_writes_keep_their_order_and_zero_length_writes_do_nothing() -> None:
    channel, inner, clock = paced()
    channel.write(b"")
    assert channel.pending_out_bytes == 0
    assert channel.next_due_s() is None
    for chunk in (b"one ", b"", b"two ", b"three"):
        channel.write(chunk)
    clock.now_s = 10.0
    channel.flush_due()
    assert inner.written() == b"one two three"
    assert all(data for _, data in inner.writes)


def test_no_drift_over_an_hour_of_a_busy_line() -> None:
    channel, inner, clock = paced(115_200)
    sent = 0
    step_s = 0.0937  # no relation to the byte time: chunk boundaries fall anywhere
    while clock.now_s < 3600.0:
        if channel.pending_out_bytes < 1200:  # 1 080 bytes leave per step: never idle
            channel.write(b"\x55" * 2400)
        clock.now_s += step_s
        channel.flush_due()
        sent += sum(len(data) for _, data in inner.writes)
        inner.writes.clear()
    expected = math.floor(clock.now_s * 11_520)
    assert abs(sent - expected) <= 1


def test_a_baud_rate_must_be_a_positive_whole_number() -> None:
    clock = FakeClock()
    for baud in (0, -9600):
        with pytest.raises(ValueError, match="baud rate"):
            PacedChannel(FakeChannel(clock), baud, clock=clock)


def test_close_closes_the_inner_channel() -> None:
    channel, inner, _ = paced()
    channel.close()
    assert inner.closed


# --- acceptance: a real pty at 9600 baud ----------------------------------------------------

BURST = bytes(range(256)) * 4 + bytes(range(176))  # 1 200 bytes: 1.25 s at 9600 baud
PHYSICS_S = 1.24  # a hair under 1.25 s
GENEROUS_S = 2.0


@pytest.fixture
def pty_pair() -> tuple[PacedChannel, SerialChannel]:  # type: ignore[misc]
    device = PtyChannel()
    other = SerialChannel(device.path, poll_interval_s=0.01)
    yield PacedChannel(device, BAUD), other
    other.close()
    device.close()


@pytest.mark.timeout(30)
def test_a_burst_reaches_the_paced_reader_at_9600_baud(
    pty_pair: tuple[PacedChannel, SerialChannel],
) -> None:
    channel, other = pty_pair
    got = bytearray()
    written_s = time.monotonic()
    other.write(BURST)
    while len(got) < len(BURST) and time.monotonic() - written_s < 10:
        got += channel.read_some(0.05)
        # Never earlier than the last bit could have arrived since the write.
        assert len(got) <= (time.monotonic() - written_s) * BYTES_PER_S
    took_s = time.monotonic() - written_s
    assert bytes(got) == BURST
    assert PHYSICS_S <= took_s <= GENEROUS_S, f"{took_s:.3f} s"


@pytest.mark.timeout(30)
def test_a_paced_write_arrives_at_the_other_end_at_9600_baud(
    pty_pair: tuple[PacedChannel, SerialChannel],
) -> None:
    channel, other = pty_pair
    got = bytearray()
    written_s = time.monotonic()
    channel.write(BURST)
    while len(got) < len(BURST) and time.monotonic() - written_s < 10:
        channel.read_some(0.01)  # as the serve loop does: reading drives the output
        got += other.read_some(0.0)
        assert len(got) <= (time.monotonic() - written_s) * BYTES_PER_S
    took_s = time.monotonic() - written_s
    assert bytes(got) == BURST
    assert PHYSICS_S <= took_s <= GENEROUS_S, f"{took_s:.3f} s"
