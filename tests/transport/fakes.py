"""A clock that moves only when told, and a channel on it whose waits move the clock."""

from __future__ import annotations

from collections import deque


class FakeClock:
    def __init__(self, now_s: float = 0.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


class FakeChannel:
    """Bytes scheduled to arrive at instants; a wait advances the clock, as sleeping would."""

    description = "fake"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.arrivals: deque[tuple[float, bytes]] = deque()
        self.writes: list[tuple[float, bytes]] = []
        self.waits_s: list[float] = []
        self.closed = False

    def arrive(self, at_s: float, data: bytes) -> None:
        self.arrivals.append((at_s, data))

    def read_some(self, timeout_s: float | None = None) -> bytes:
        wait_s = 0.05 if timeout_s is None else timeout_s
        self.waits_s.append(wait_s)
        deadline_s = self.clock.now_s + wait_s
        if self.arrivals and self.arrivals[0][0] <= deadline_s:
            at_s, data = self.arrivals.popleft()
            self.clock.now_s = max(self.clock.now_s, at_s)
            return data
        self.clock.now_s = deadline_s
        return b""

    def write(self, data: bytes) -> None:
        self.writes.append((self.clock.now_s, data))

    def written(self) -> bytes:
        return b"".join(data for _, data in self.writes)

    def close(self) -> None:
        self.closed = True
