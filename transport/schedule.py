"""Bytes held back until an instant: what a slow line or a delaying one does to a stream.

Shared by the paced and the faulty channel. Every byte gets a release instant

    release = max(ready, release of the byte before) + period

(``period`` is a byte's time on the wire, zero for a pure delay), so a line never reorders
bytes, and back-to-back bytes are spaced exactly one period apart. A run of back-to-back
bytes (a burst) is kept as its start instant and a byte count, and each release is computed
as ``start + count * period`` with ``period`` an exact fraction: no rounding error piles up,
however long the line stays busy.

``ScheduledChannel`` is the loop both channels share: it wraps a ``ByteChannel``, releases
what is due in each direction, and never sleeps past the next release.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from transport.channel import POLL_INTERVAL_S, ByteChannel

# The shortest wait between releases: a 115 200-baud line would otherwise wake the loop for
# every byte. Releases are never early, at most this late, and lateness never accumulates.
MIN_WAIT_S = 0.001


@dataclass(slots=True)
class _Segment:
    data: bytes
    start_s: float  # the instant its burst began
    first: int  # bytes of the burst before data[0]; data[k] is due at start + (first+k+1)*period


class ReleaseSchedule:
    """A FIFO of bytes, each released at its instant (module docstring); one thread only."""

    def __init__(self, period_s: Fraction = Fraction(0)) -> None:
        if period_s < 0:
            raise ValueError(f"byte period {period_s} s is negative")
        self._period_s = period_s
        self._segments: deque[_Segment] = deque()
        self._burst_start_s = -math.inf
        self._burst_count = 0
        self.pending_bytes = 0

    def push(self, data: bytes, ready_s: float) -> None:
        """Queue ``data``; its first byte may start on the line at ``ready_s``."""
        if not data:
            return
        if ready_s > self._release_s(self._burst_start_s, self._burst_count):
            self._burst_start_s, self._burst_count = ready_s, 0  # the line was idle: new burst
        self._segments.append(_Segment(data, self._burst_start_s, self._burst_count))
        self._burst_count += len(data)
        self.pending_bytes += len(data)

    def pop_due(self, now_s: float) -> bytes:
        """Every byte whose release instant is ``now_s`` or earlier, in order."""
        out: list[bytes] = []
        segments = self._segments
        while segments:
            head = segments[0]
            due = self._due_count(head, now_s)
            if due == 0:
                break
            if due == len(head.data):
                segments.popleft()
                out.append(head.data)
                continue
            out.append(head.data[:due])
            head.data = head.data[due:]
            head.first += due
            break
        released = b"".join(out)
        self.pending_bytes -= len(released)
        return released

    def pop_all(self) -> bytes:
        """Every byte still queued, whatever its instant; the line starts idle again."""
        released = b"".join(segment.data for segment in self._segments)
        self._segments.clear()
        self._burst_start_s, self._burst_count = -math.inf, 0
        self.pending_bytes = 0
        return released

    def next_release_s(self) -> float | None:
        """The instant the next byte is due, or None when nothing is queued."""
        if not self._segments:
            return None
        head = self._segments[0]
        return self._release_s(head.start_s, head.first + 1)

    def _release_s(self, start_s: float, count: int) -> float:
        """When the ``count``-th byte of a burst started at ``start_s`` is released."""
        return start_s + float(count * self._period_s)

    def _due_count(self, segment: _Segment, now_s: float) -> int:
        """How many of the segment's bytes are due at ``now_s`` (exactly, by ``_release_s``)."""
        size = len(segment.data)
        if not self._period_s:
            return size if segment.start_s <= now_s else 0
        # An estimate from the elapsed time, then corrected so that it agrees exactly with
        # the release instants computed everywhere else.
        elapsed_s = now_s - segment.start_s
        if elapsed_s <= 0:
            return 0
        due = min(size, max(0, math.floor(elapsed_s / self._period_s) - segment.first))
        while due < size and self._release_s(segment.start_s, segment.first + due + 1) <= now_s:
            due += 1
        while due > 0 and self._release_s(segment.start_s, segment.first + due) > now_s:
            due -= 1
        return due


class ScheduledChannel(ABC):
    """A channel that holds bytes back in both directions; subclasses decide the instants.

    ``_admit_in`` and ``_admit_out`` queue what arrives from the inner channel and what the
    caller writes. ``read_some`` keeps releasing due output while it waits, and waits on the
    inner channel at most until the next release, so a serve loop that calls ``read_some``
    continuously paces both directions. A shell that does not read can call ``flush_due``
    after sleeping ``next_due_s()``.
    """

    description: str

    def __init__(
        self,
        inner: ByteChannel,
        period_s: Fraction,
        clock: Callable[[], float],
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self.inner = inner
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._incoming = ReleaseSchedule(period_s)
        self._outgoing = ReleaseSchedule(period_s)

    @abstractmethod
    def _admit_in(self, data: bytes, now_s: float) -> None:
        """Queue bytes read from the inner channel at ``now_s`` on ``self._incoming``."""

    @abstractmethod
    def _admit_out(self, data: bytes, now_s: float) -> None:
        """Queue bytes the caller wrote at ``now_s`` on ``self._outgoing``."""

    @property
    def pending_out_bytes(self) -> int:
        return self._outgoing.pending_bytes

    @property
    def pending_in_bytes(self) -> int:
        return self._incoming.pending_bytes

    def next_due_s(self) -> float | None:
        """Seconds until a byte is due in either direction (0.0 if one is overdue), or None."""
        instants = [
            at
            for at in (self._incoming.next_release_s(), self._outgoing.next_release_s())
            if at is not None
        ]
        if not instants:
            return None
        return max(0.0, min(instants) - self._clock())

    def flush_due(self) -> None:
        """Hand the inner channel every written byte that is due."""
        due = self._outgoing.pop_due(self._clock())
        if due:
            self.inner.write(due)

    def write(self, data: bytes) -> None:
        """Queue ``data``; never blocks. What is due already goes out at once."""
        if data:
            self._admit_out(data, self._clock())
            self.flush_due()

    def read_some(self, timeout_s: float | None = None) -> bytes:
        """Received bytes as soon as they are due, or b"" at the timeout; written bytes go out
        on time meanwhile."""
        wait_s = self._poll_interval_s if timeout_s is None else max(0.0, timeout_s)
        deadline_s = self._clock() + wait_s
        polled = False
        while True:
            self.flush_due()
            now_s = self._clock()
            released = self._incoming.pop_due(now_s)
            if released:
                return released
            remaining_s = deadline_s - now_s
            if polled and remaining_s <= 0:
                return b""
            step_s = max(0.0, remaining_s)
            due_s = self.next_due_s()
            if due_s is not None:
                step_s = min(step_s, max(due_s, MIN_WAIT_S))
            data = self.inner.read_some(step_s)
            polled = True
            if data:
                self._admit_in(data, self._clock())

    def close(self) -> None:
        """Close the inner channel; bytes still held back are lost, as on a cut line."""
        self.inner.close()

    def drain(self) -> tuple[bytes, bytes]:
        """Everything still held back, received and written, whatever its instant: for a
        shell that replaces this stage without losing bytes."""
        return self._incoming.pop_all(), self._outgoing.pop_all()
