"""A clean faulty channel passes bytes straight through, and still honours faults set live."""

from __future__ import annotations

from tests.transport.fakes import FakeChannel, FakeClock
from transport import FaultyChannel, NoiseModel

DROP_ALL = NoiseModel(flip=0.0, drop=1.0, duplicate=0.0)


def test_a_clean_line_hands_over_what_arrives_with_the_callers_timeout() -> None:
    clock = FakeClock()
    inner = FakeChannel(clock)
    channel = FaultyChannel(inner, clock=clock, poll_interval_s=0.02)
    inner.arrive(0.001, b"request")
    assert channel.read_some(0.3) == b"request"
    assert channel.read_some() == b""
    assert inner.waits_s == [0.3, 0.02]  # one wait each, as asked: no schedule in between
    channel.write(b"reply")
    assert inner.writes == [(clock.now_s, b"reply")]


class _FaultsWhileWaiting(FakeChannel):
    """The control thread switches faults on while the serve loop waits in a read."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.during_wait: FaultyChannel | None = None

    def read_some(self, timeout_s: float | None = None) -> bytes:
        if self.during_wait is not None:
            self.during_wait.set_faults(DROP_ALL, DROP_ALL)
            self.during_wait = None
        return super().read_some(timeout_s)


def test_faults_set_while_a_clean_read_waits_apply_to_the_bytes_it_brings() -> None:
    clock = FakeClock()
    inner = _FaultsWhileWaiting(clock)
    channel = FaultyChannel(inner, clock=clock)
    inner.during_wait = channel
    inner.arrive(0.001, b"lost to the noise")
    assert channel.read_some(0.05) == b""
    channel.write(b"also lost")
    assert inner.writes == []


def test_bytes_a_delay_still_holds_come_out_before_new_ones_once_clean() -> None:
    clock = FakeClock()
    inner = FakeChannel(clock)
    channel = FaultyChannel(inner, clock=clock)
    channel.set_faults(None, None, delay_s=10.0)
    inner.arrive(0.0, b"first ")
    channel.write(b"held ")
    assert channel.read_some(0.01) == b""
    channel.set_faults(None, None, delay_s=0.0)  # clean again, with bytes still held
    inner.arrive(clock.now_s, b"second")
    channel.write(b"new")
    got = b""
    while len(got) < len(b"first second"):
        got += channel.read_some(0.05)
    assert got == b"first second"
    assert inner.written() == b"held new"
