"""A noisy line, from a seed: what a long cable, a bad dongle or a busy UART does to bytes.

The noise model used across the project (docs/protocol.md, section 1): each byte,
independently in each direction, is flipped (XOR with a random non-zero byte) with
probability ``flip``, dropped with ``drop`` and duplicated with ``duplicate`` (default 1/300
each). A dropped byte is gone whatever else was drawn for it. Deterministic for a seed, so a
failure seen once is seen again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

DEFAULT_RATE = 1 / 300


@dataclass(frozen=True, slots=True)
class NoiseModel:
    flip: float = DEFAULT_RATE
    drop: float = DEFAULT_RATE
    duplicate: float = DEFAULT_RATE

    def __post_init__(self) -> None:
        for name in ("flip", "drop", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} rate {value} outside 0..1")

    @property
    def any_rate(self) -> float:
        """The chance that a byte is touched at all."""
        return 1.0 - (1.0 - self.flip) * (1.0 - self.drop) * (1.0 - self.duplicate)


@dataclass(slots=True)
class NoiseCounts:
    bytes_in: int = 0
    flipped: int = 0
    dropped: int = 0
    duplicated: int = 0


@dataclass(slots=True)
class LineNoise:
    """One direction of a noisy line."""

    model: NoiseModel
    seed: int
    counts: NoiseCounts = field(default_factory=NoiseCounts)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def apply(self, data: bytes) -> bytes:
        model, rng, counts = self.model, self._rng, self.counts
        counts.bytes_in += len(data)
        any_rate = model.any_rate
        if not any_rate:
            return data
        out = bytearray()
        for byte in data:
            if rng.random() >= any_rate:
                out.append(byte)
                continue
            # Something happens to this byte: draw the three events again, independently,
            # until at least one occurs (the conditional distribution, exactly).
            while True:
                flip = rng.random() < model.flip
                drop = rng.random() < model.drop
                duplicate = rng.random() < model.duplicate
                if flip or drop or duplicate:
                    break
            if drop:
                counts.dropped += 1
                continue
            if flip:
                byte ^= rng.randrange(1, 256)
                counts.flipped += 1
            out.append(byte)
            if duplicate:
                out.append(byte)
                counts.duplicated += 1
        return bytes(out)
