"""Faults switched on and off while a device runs: noise and delay, set from another thread.

The emulator's control thread changes the faults while its serve loop reads and writes; a
test can then watch a programmer ride out a bad line, or a slow one, and recover when the
line is good again. Noise is the project's model (``noise.py``), reproducible for a seed:
each ``set_faults`` draws fresh seeds for both directions from one generator seeded with
``seed``, so the same sequence of settings damages the same bytes. A delay never reorders
bytes: a byte is released at its arrival plus the delay, or after the byte before it.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable
from fractions import Fraction

from transport.channel import POLL_INTERVAL_S, ByteChannel
from transport.noise import LineNoise, NoiseCounts, NoiseModel
from transport.schedule import ScheduledChannel

MAX_DELAY_S = 60.0
TO_DEVICE = "to_device"
FROM_DEVICE = "from_device"


class FaultyChannel(ScheduledChannel):
    """``inner`` seen from the device's side: ``to_device`` faults touch what is read from
    ``inner``, ``from_device`` faults what is written. Settings are thread-safe; reading and
    writing belong to one thread (the serve loop)."""

    def __init__(
        self,
        inner: ByteChannel,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        super().__init__(inner, Fraction(0), clock, poll_interval_s)
        self.description = inner.description  # faults are said when set, not at start
        self._lock = threading.Lock()
        self._seeds = random.Random(seed)
        self._counts = {TO_DEVICE: NoiseCounts(), FROM_DEVICE: NoiseCounts()}
        self._to_device: LineNoise | None = None
        self._from_device: LineNoise | None = None
        self._delay_s = 0.0
        self._retime = False  # a shorter delay was set: bytes held longer go out sooner
        self._clean = True  # no noise and no delay: bytes pass straight through

    def set_faults(
        self,
        to_device: NoiseModel | None,
        from_device: NoiseModel | None,
        delay_s: float = 0.0,
    ) -> None:
        """Noise for each direction (None: clean) and a delay for both, from now on."""
        if not 0.0 <= delay_s <= MAX_DELAY_S:  # a NaN fails this too
            raise ValueError(f"fault delay {delay_s} s outside 0..{MAX_DELAY_S:g} s")
        for name, model in ((TO_DEVICE, to_device), (FROM_DEVICE, from_device)):
            if model is not None and not isinstance(model, NoiseModel):
                raise ValueError(f"{name} faults must be a NoiseModel or None, not {model!r}")
        with self._lock:
            to_seed, from_seed = self._seeds.getrandbits(64), self._seeds.getrandbits(64)
            self._to_device = self._noise(to_device, to_seed, TO_DEVICE)
            self._from_device = self._noise(from_device, from_seed, FROM_DEVICE)
            self._retime = self._retime or delay_s < self._delay_s
            self._delay_s = float(delay_s)
            self._clean = to_device is None and from_device is None and not delay_s

    def faults_off(self) -> None:
        """A clean line with no delay; bytes already held back still arrive, in order."""
        self.set_faults(None, None, 0.0)

    def read_some(self, timeout_s: float | None = None) -> bytes:
        if self._clean and not (self._incoming.pending_bytes or self._outgoing.pending_bytes):
            # A clean line with nothing held back: the inner channel's bytes as they are,
            # without the schedule's bookkeeping (the emulator's line on every request).
            wait_s = self._poll_interval_s if timeout_s is None else timeout_s
            data = self.inner.read_some(wait_s)
            if not data or self.clean:
                return data
            self._admit_in(data, self._clock())  # faults set while we waited apply to it
            return self._incoming.pop_due(self._clock())
        self._apply_shorter_delay()
        return super().read_some(timeout_s)

    @property
    def clean(self) -> bool:
        """No noise and no delay now (another thread may change it at any moment)."""
        return self._clean

    def write(self, data: bytes) -> None:
        if self._clean and not self._outgoing.pending_bytes:
            self.inner.write(data)
            return
        super().write(data)

    def _apply_shorter_delay(self) -> None:
        """After a shorter delay (``faults off`` included), what is held back is due at the
        new delay from now: a 60 s delay switched off does not keep the line for a minute.
        Done here, on the reading thread, which alone touches the queues."""
        with self._lock:
            if not self._retime:
                return
            self._retime = False
            delay_s = self._delay_s
        ready_s = self._clock() + delay_s
        self._incoming.push(self._incoming.pop_all(), ready_s)
        self._outgoing.push(self._outgoing.pop_all(), ready_s)

    def counts(self) -> dict[str, NoiseCounts]:
        """What the noise did so far, per direction (``to_device``, ``from_device``): a copy."""
        with self._lock:
            return {name: dataclasses.replace(counts) for name, counts in self._counts.items()}

    def _noise(self, model: NoiseModel | None, seed: int, name: str) -> LineNoise | None:
        if model is None:
            return None
        return LineNoise(model, seed, counts=self._counts[name])

    def _admit_in(self, data: bytes, now_s: float) -> None:
        with self._lock:
            if self._to_device is not None:
                data = self._to_device.apply(data)
            delay_s = self._delay_s
        self._incoming.push(data, now_s + delay_s)

    def _admit_out(self, data: bytes, now_s: float) -> None:
        with self._lock:
            if self._from_device is not None:
                data = self._from_device.apply(data)
            delay_s = self._delay_s
        self._outgoing.push(data, now_s + delay_s)
