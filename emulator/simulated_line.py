"""A serial line to an emulated pump that exists only in memory, on injected time.

``SimulatedLine`` is a ``ByteChannel``: the programmer library uses it exactly as it uses a
port, but the bytes go straight to an ``EmulatedDevice`` through optional line noise, and
time is a ``ManualClock`` that moves only when someone waits. A thousand commands over a
noisy line then take milliseconds and come out the same for the same seed.

The pump reads its UART every ``pump_read_interval_s`` (a firmware loop, a busy emulator):
bytes written in between reach it together, in one read, as they do on real hardware. That
is the condition under which a request and its retransmission arrive in one read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.device import EmulatedDevice
from transport import LineNoise

US_PER_S = 1_000_000


@dataclass(slots=True)
class ManualClock:
    """Seconds, moved by hand: the clock and the sleep of a programmer under test."""

    now_s: float = 0.0

    def __call__(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.now_s += seconds


@dataclass
class SimulatedLine:
    device: EmulatedDevice
    clock: ManualClock = field(default_factory=ManualClock)
    to_pump: LineNoise | None = None
    to_programmer: LineNoise | None = None
    pump_read_interval_s: float = 0.0
    sim_origin_us: int = 0  # the pump's model time when the clock reads 0
    description: str = "simulated line"
    tx_log: list[bytes] = field(default_factory=list)  # what the programmer wrote, as written
    _pending: bytearray = field(default_factory=bytearray)  # written, not yet read by the pump
    _inbox: bytearray = field(default_factory=bytearray)  # sent by the pump, not yet read
    _next_read_s: float = 0.0

    def __post_init__(self) -> None:
        self.sim_origin_us = max(self.sim_origin_us, self.device.pump.t_us)

    # -- the programmer's side (ByteChannel) -----------------------------------------------

    def write(self, data: bytes) -> None:
        self.tx_log.append(data)
        self._pending += self.to_pump.apply(data) if self.to_pump else data
        if not self.pump_read_interval_s:
            self._pump_reads()

    def read_some(self, timeout_s: float | None = None) -> bytes:
        wait = 0.05 if timeout_s is None else max(0.0, timeout_s)
        if not self._inbox:
            self._run_until(self.clock.now_s + wait)
        data = bytes(self._inbox)
        self._inbox.clear()
        return data

    def close(self) -> None:
        """Nothing to release."""

    # -- the pump's side -------------------------------------------------------------------

    def inject(self, data: bytes) -> None:
        """Bytes from another party on the line: the pump reads them with ours."""
        self._pending += data
        if not self.pump_read_interval_s:
            self._pump_reads()

    def inject_to_programmer(self, data: bytes) -> None:
        """Bytes another party sends the programmer (a forger on the line)."""
        self._inbox += data

    def settle(self) -> None:
        """Let the pump read whatever is waiting, now."""
        self._pump_reads()

    def _run_until(self, deadline_s: float) -> None:
        interval = self.pump_read_interval_s
        while interval and self._next_read_s <= deadline_s and not self._inbox:
            self.clock.now_s = max(self.clock.now_s, self._next_read_s)
            self._pump_reads()
            self._next_read_s += interval
        if not self._inbox:
            self.clock.now_s = max(self.clock.now_s, deadline_s)
            self._deliver(self.device.tick(self._sim_now_us(), self._link_now_us()))

    def _pump_reads(self) -> None:
        data = bytes(self._pending)
        self._pending.clear()
        now_us = self._sim_now_us()
        out = (
            self.device.receive(data, now_us, self._link_now_us())
            if data
            else self.device.tick(now_us, self._link_now_us())
        )
        self._deliver(out)

    def _deliver(self, out: bytes) -> None:
        if out:
            self._inbox += self.to_programmer.apply(out) if self.to_programmer else out

    def _sim_now_us(self) -> int:
        return self.sim_origin_us + round(self.clock.now_s * US_PER_S)

    def _link_now_us(self) -> int:
        return round(self.clock.now_s * US_PER_S)
