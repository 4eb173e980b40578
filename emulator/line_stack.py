"""The emulator's line, as stages between the port and the device.

    port  <->  faults (flips, drops, duplicates, delay)  <->  pacing (a UART's baud)
          <->  capture (what the pump's protocol saw)  <->  device

Faults come first because they happen on the cable; pacing is the pump's UART; the capture
records exactly the bytes the protocol read and wrote. Every stage is used from the serve
loop's thread only: the rig asks it for changes, and the loop applies them between reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from transport import ByteChannel, FaultyChannel, PacedChannel


class AdjustablePacing:
    """Pacing that a test rig may switch on, change or switch off while the emulator runs.

    A change takes effect between two reads; bytes still held by the old pacing go out at
    once (a line reconfigured mid-byte loses its timing, not its bytes)."""

    def __init__(self, inner: ByteChannel, baud: int | None) -> None:
        self._inner = inner
        self._paced: PacedChannel | None = None
        self._carried_in = b""  # received bytes an old pacing still held
        self.baud: int | None = None
        self.description = inner.description
        self.set_baud(baud)

    def set_baud(self, baud: int | None) -> None:
        if baud == self.baud:
            return
        old = self._paced
        if old is not None:
            received, written = old.drain()
            self._carried_in += received
            if written:
                self._inner.write(written)
        self._paced = PacedChannel(self._inner, baud) if baud else None
        self.baud = baud
        self.description = self._paced.description if self._paced else self._inner.description

    def read_some(self, timeout_s: float | None = None) -> bytes:
        if self._carried_in:
            data, self._carried_in = self._carried_in, b""
            return data
        channel: ByteChannel = self._paced or self._inner
        return channel.read_some(timeout_s)

    def write(self, data: bytes) -> None:
        channel: ByteChannel = self._paced or self._inner
        channel.write(data)

    def close(self) -> None:
        self._inner.close()


@dataclass(slots=True)
class LineStack:
    channel: ByteChannel  # what the device reads and writes
    faults: FaultyChannel
    pacing: AdjustablePacing


def build_line(port: ByteChannel, baud_pace: int | None, fault_seed: int = 0) -> LineStack:
    faults = FaultyChannel(port, seed=fault_seed)
    pacing = AdjustablePacing(faults, baud_pace)
    return LineStack(pacing, faults, pacing)
