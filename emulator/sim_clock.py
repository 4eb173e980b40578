"""Simulated time for the live emulator: real monotonic time, optionally accelerated."""

import time
from collections.abc import Callable


class SimClock:
    def __init__(
        self,
        speed: float = 1.0,
        start_us: int = 0,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be zero (frozen) or positive")
        self._monotonic_ns = monotonic_ns
        self._origin_ns = monotonic_ns()
        self._origin_us = start_us
        self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    def now_us(self) -> int:
        elapsed_ns = self._monotonic_ns() - self._origin_ns
        return self._origin_us + int(elapsed_ns * self._speed) // 1_000

    def set_speed(self, speed: float) -> None:
        """Change the rate from now on without a jump in simulated time."""
        if speed < 0:
            raise ValueError("speed must be zero (frozen) or positive")
        now_us = self.now_us()
        self._origin_ns = self._monotonic_ns()
        self._origin_us = now_us
        self._speed = speed

    def jump(self, us: int) -> int:
        """Move simulated time forward by ``us`` at once (a test rig's time jump)."""
        if us < 0:
            raise ValueError("time jumps forward only")
        self._origin_us += us
        return self.now_us()

    def rebase(self, now_us: int) -> None:
        """Simulated time is ``now_us`` from here on (a restored pump brings its own time)."""
        self._origin_ns = self._monotonic_ns()
        self._origin_us = now_us
