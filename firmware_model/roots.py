"""Where a curve of the heat-lagged physics first crosses a level, to the microsecond.

Between events every integral the pump watches (volume pumped, battery drained, the
over-infusion window's excess) has the form

    v + c x + b tau (1 - e^(-x/tau))

the integral of a rate c + b e^(-x/tau). Its slope is monotone, so it turns at most once,
and the first crossing of a level is found in closed form up to one bracketed root. The
float root is then settled on whole microseconds by asking the integer integral itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

ROOT_TOLERANCE_US = 1e-3
MAX_ITERATIONS = 200
NEAREST_STEPS = 8  # integer steps tried either side of the float root


@dataclass(frozen=True, slots=True)
class ExpLinear:
    """v + c x + b tau (1 - e^(-x/tau)) for x >= 0."""

    v: float
    c: float
    b: float
    tau: float

    def at(self, x: float) -> float:
        return self.v + self.c * x - self.b * self.tau * math.expm1(-x / self.tau)

    def slope(self, x: float) -> float:
        return self.c + self.b * math.exp(-x / self.tau)

    def negated(self) -> ExpLinear:
        return ExpLinear(-self.v, -self.c, -self.b, self.tau)

    def turning_point(self) -> float | None:
        """Where the slope c + b e^(-x/tau) is zero, if at some x > 0."""
        if self.c == 0 or self.b == 0:
            return None
        ratio = -self.b / self.c
        return self.tau * math.log(ratio) if ratio > 1.0 else None

    def first_above(self, level: float, x_max: float) -> float | None:
        """The first x in (0, x_max] where the curve rises above ``level``; None if it does
        not. Assumes it starts at or below the level (if not, answers 0)."""
        if self.v > level:
            return 0.0
        points = [0.0]
        turn = self.turning_point()
        if turn is not None and turn < x_max:
            points.append(turn)
        points.append(float(x_max))
        for low, high in pairwise(points):
            if self.at(high) > level:
                return self._rising_root(level, low, high)
        return None

    def _rising_root(self, level: float, low: float, high: float) -> float:
        """Root of at(x) = level in [low, high], where the curve rises through it: Newton's
        method kept inside the bracket. A step that would leave it first probes just inside
        the end it overshot (the root is often right there), then halves the bracket."""
        x = high
        probed = False
        for _ in range(MAX_ITERATIONS):
            gap = self.at(x) - level
            if gap > 0:
                high = x
            else:
                low = x
            if high - low <= ROOT_TOLERANCE_US:
                return high
            slope = self.slope(x)
            step = gap / slope if slope > 0 else math.inf
            guess = x - step
            if low < guess < high:
                if abs(step) <= ROOT_TOLERANCE_US:
                    return guess
                probed = False
            elif probed or math.isinf(step):
                guess = (low + high) / 2
            else:
                near = ROOT_TOLERANCE_US / 2
                guess = low + near if guess <= low else high - near
                probed = True
            x = guess
        return high


def nearest_integer(x: float, holds: Callable[[int], bool], lowest: int, highest: int) -> int:
    """The earliest whole microsecond near ``x`` at which ``holds``, from a few either side.

    ``holds`` asks the integer integral itself, so the answer is the instant the pump's own
    arithmetic meets the condition. If none of the few tried does (a curve that only grazes
    the level), the last one tried is returned: an instant to look again from.
    """
    n = min(highest, max(lowest, math.floor(x)))
    for _ in range(NEAREST_STEPS):
        if n > lowest and holds(n - 1):
            n -= 1
        else:
            break
    for _ in range(NEAREST_STEPS):
        if n >= highest or holds(n):
            break
        n += 1
    return n
