"""The emulator's line, as stages between the port and the device.

    port  <->  faults (flips, drops, duplicates, delay)  <->  pacing (a UART's baud)
          <->  capture (what the pump's protocol saw)  <->  device

Faults come first because they happen on the cable; pacing is the pump's UART; the capture
records exactly the bytes the protocol read and wrote. Every stage is used from the serve
loop's thread only: the rig asks it for changes, and the loop applies them between reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from protocol.capture import FROM_PUMP, TO_PUMP, CaptureWriter
from transport import ByteChannel, CapturingChannel, FaultyChannel, PacedChannel


class AdjustablePacing:
    """Pacing that a test rig may switch on, change or switch off while the emulator runs.

    A change takes effect between two reads; bytes still held by the old pacing go out at
    once (a line reconfigured mid-byte loses its timing, not its bytes)."""

    def __init__(
        self, inner: ByteChannel, baud: int | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._inner = inner
        self._clock = clock
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
        self._paced = PacedChannel(self._inner, baud, self._clock) if baud else None
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


log = logging.getLogger(__name__)


@dataclass(slots=True)
class LineStack:
    channel: ByteChannel  # what the device reads and writes
    faults: FaultyChannel
    pacing: AdjustablePacing


def build_line(
    port: ByteChannel,
    baud_pace: int | None,
    capture: CaptureWriter | None = None,
    fault_seed: int = 0,
    clock_us: Callable[[], int] = lambda: time.time_ns() // 1_000,
) -> LineStack:
    faults = FaultyChannel(port, seed=fault_seed)
    pacing = AdjustablePacing(faults, baud_pace)
    channel: ByteChannel = pacing
    if capture is not None:
        channel = CapturingChannel(pacing, _CaptureSink(capture, clock_us))
    return LineStack(channel, faults, pacing)


class _CaptureSink:
    """Feeds the capture; a capture that cannot be written (a full disk) stops, said once,
    and the pump goes on serving: a record of the link never costs the link."""

    def __init__(self, capture: CaptureWriter, clock_us: Callable[[], int]) -> None:
        self._capture: CaptureWriter | None = capture
        self._clock_us = clock_us

    def __call__(self, rx_tx: str, data: bytes) -> None:
        capture = self._capture
        if capture is None:
            return
        try:
            capture.feed(TO_PUMP if rx_tx == "rx" else FROM_PUMP, data, self._clock_us())
        except OSError as exc:
            self._capture = None
            log.error("capture stopped, the pump goes on: %s", exc.strerror or exc)


def close_capture(capture: CaptureWriter, stream: BinaryIO) -> None:
    try:
        capture.flush()
        stream.close()
    except OSError as exc:
        log.error("capture not closed cleanly: %s", exc.strerror or exc)


def open_capture(path: str) -> tuple[BinaryIO, CaptureWriter]:
    """The pcap file and its writer; OSError names the path when it cannot be created."""
    stream = open(path, "wb")  # noqa: SIM115 (closed by the shell at exit)
    return stream, CaptureWriter(stream)
