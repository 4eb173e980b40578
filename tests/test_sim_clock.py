import pytest

from emulator.sim_clock import SimClock


class FakeMonotonic:
    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def __call__(self) -> int:
        return self.ns


def test_accelerated_time_without_jumps_when_speed_changes() -> None:
    mono = FakeMonotonic()
    clock = SimClock(speed=3600, start_us=5, monotonic_ns=mono)
    mono.ns += 1_000_000_000  # one real second
    assert clock.now_us() == 5 + 3600 * 1_000_000
    clock.set_speed(0)
    mono.ns += 10_000_000_000
    assert clock.now_us() == 5 + 3600 * 1_000_000


def test_negative_speed_is_refused() -> None:
    with pytest.raises(ValueError, match="speed"):
        SimClock(speed=-1)
