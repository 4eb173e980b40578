"""A channel as slow as a real UART: the emulator at 9600 baud takes as long as the pump.

A pty or a socket moves a kilobyte in microseconds; the pump's UART needs a second. Timeouts
and retransmission in the programmer are only tested for real when the bytes take as long
as on the wire. Both directions are paced as a full-duplex UART at 10 bits a byte (start,
8 data, stop): a byte is released when its last bit would have arrived, back-to-back bytes
one byte-time apart, exactly on average (``schedule.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction

from transport.channel import POLL_INTERVAL_S, ByteChannel
from transport.schedule import ScheduledChannel

BITS_PER_BYTE = 10


class PacedChannel(ScheduledChannel):
    """``inner`` at ``baud``: writes queue and leave at baud/10 bytes a second; bytes read
    reach the caller no earlier than their last bit would have. One thread only."""

    def __init__(
        self,
        inner: ByteChannel,
        baud: int,
        clock: Callable[[], float] = time.monotonic,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
            raise ValueError(f"baud rate {baud!r} is not a positive whole number")
        super().__init__(inner, Fraction(BITS_PER_BYTE, baud), clock, poll_interval_s)
        self.baud = baud
        self.description = f"{inner.description} (paced at {baud} baud)"

    def _admit_in(self, data: bytes, now_s: float) -> None:
        self._incoming.push(data, now_s)

    def _admit_out(self, data: bytes, now_s: float) -> None:
        self._outgoing.push(data, now_s)
