"""A flow between two events: constant, or driven by a heat lag, and its exact integral.

A ``Flow`` is ``base + heat * max(0, T(t) - 37 °C)`` quanta per µs, with T the lagged
pump temperature (firmware_model/heat.py). Without a lag it is constant and integrates in
integers, exactly, as every flow did before heat had a time constant. With one, its integral
has an exact integer part and a transcendental part evaluated in floating point; that part
is rounded outwards (up for what is delivered, down for what is subtracted) with a margin
far above the float error, so a volume is never under-counted, and over-counted by at most
2^-40 of the heat term plus a few quanta per segment (of order 1e-7 nL at the defaults).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from firmware_model.heat import Lag
from firmware_model.roots import ExpLinear, nearest_integer
from firmware_model.units import BODY_TEMPERATURE_MC

# Relative margin on the floating part: its error is a few units of 2^-53 per operation,
# times at most a few hundred for exp() of arguments up to the settling time [M].
FLOAT_MARGIN = 2.0**-40
QUANTA_MARGIN = 2  # plus whole quanta, for the rounding of the last step
# Slack of the bounds that spare a search (``rate_range``): a thousand times the margins above,
# so that a bound never excludes what the exact arithmetic could reach.
BOUND_SLACK = 2.0**-30
BOUND_QUANTA = 64.0


@dataclass(slots=True)
class Flow:
    """``base + heat * max(0, T - 37 °C)`` in quanta per µs; constant when ``lag`` is None.

    A value, never changed once made; not frozen only because the pump makes one or two at
    every event, and a frozen dataclass takes three times as long to build.
    """

    base: int
    heat: int = 0  # quanta per µs per m°C above 37 °C
    lag: Lag | None = None

    def minus(self, constant: int) -> Flow:
        return Flow(self.base - constant, self.heat, self.lag)

    def integral(self, a_us: int, b_us: int, *, upper: bool = True) -> int:
        """Quanta over [a, b]: exact when constant; else rounded up (or down if not upper)."""
        lag = self.lag
        if lag is None or a_us == b_us:
            return self.base * (b_us - a_us)
        known = lag._memo.get((a_us, b_us))  # Lag.excess_integral's memory, looked in first
        exact, approx, scale = lag.excess_integral(a_us, b_us) if known is None else known
        whole = self.base * (b_us - a_us) + self.heat * exact
        if scale == 0.0:
            return whole
        part = self.heat * approx
        margin = self.heat * scale * FLOAT_MARGIN + QUANTA_MARGIN
        return whole + (math.ceil(part + margin) if upper else math.floor(part - margin))

    def rate_at(self, t_us: int) -> float:
        """Quanta per µs at an instant."""
        if self.lag is None:
            return float(self.base)
        c, b = self.lag.excess_terms(t_us)
        return self.base + self.heat * (c + b)

    def terms(self, t_us: float) -> tuple[float, float]:
        """(c, b): the rate is c + b e^(-(s - t)/tau) from ``t_us`` to the next kink."""
        if self.lag is None:
            return float(self.base), 0.0
        c, b = self.lag.excess_terms(t_us)
        return self.base + self.heat * c, self.heat * b

    def rate_range(self, from_us: int, to_us: int) -> tuple[float, float, float] | None:
        """(lowest, highest, scale): the rate's bounds in quanta per µs from ``from_us`` to
        ``to_us`` (a lag heads monotonically for its target), and the magnitude ``slack`` is
        relative to; None before the lag's start. For searches to skip what cannot be
        reached, cheaply."""
        base = float(self.base)
        lag = self.lag
        if lag is None:
            return base, base, abs(base)
        excess = lag.excess_range(from_us, to_us)
        if excess is None:
            return None
        heat = self.heat
        low, high = base + heat * excess[0], base + heat * excess[1]
        if heat < 0:
            low, high = high, low
        return low, high, abs(base) + abs(heat) * excess[2]

    def ceiling(self, from_us: int) -> tuple[float, float] | None:
        """(highest, scale): the rate's highest from ``from_us`` on, for ever (a lag heads
        monotonically for its target), and the magnitude ``slack`` is relative to; None before
        the lag's start. One exponential: the cheap first look, before ``rate_range``."""
        base = float(self.base)
        lag = self.lag
        if lag is None:
            return base, abs(base)
        heat = self.heat
        if from_us < lag.since_us or heat < 0:
            return None
        delta = lag.target_mc - BODY_TEMPERATURE_MC
        start = lag.deviation_mc  # lag.deviation_at(from_us), inline (hot)
        deviation = 0.0 if start == 0.0 else start * math.exp((lag.since_us - from_us) / lag.tau_us)
        excess = delta + deviation if deviation > 0 else delta
        return base + heat * max(0.0, excess), abs(base) + heat * (abs(delta) + abs(deviation))

    def floor(self, from_us: int) -> tuple[float, float] | None:
        """(lowest, scale) of the rate from ``from_us`` on, without an exponential: the excess
        over 37 °C is never negative, and the deviation never above its start's."""
        base = float(self.base)
        lag = self.lag
        if lag is None:
            return base, abs(base)
        heat = self.heat
        if from_us < lag.since_us or heat < 0:
            return None
        delta = lag.target_mc - BODY_TEMPERATURE_MC
        return base, abs(base) + heat * (abs(delta) + abs(lag.deviation_mc))

    def kink_after(self, t_us: int) -> float | None:
        """When the lag next crosses 37 °C, changing the rate's form; None if never."""
        crossing = None if self.lag is None else self.lag.crossing_us()
        return crossing if crossing is not None and crossing > t_us else None

    @property
    def tau_us(self) -> int:
        return 1 if self.lag is None else self.lag.tau_us

    def first_reaching(
        self, t0_us: int, need: int, until_us: int, *, per_us: int = 0, per_quantum: int = 1
    ) -> int | None:
        """The first instant after ``t0_us``, up to ``until_us``, at which
        ``per_us * x + per_quantum * (quanta flowed since t0)`` reaches ``need``; None if not
        by then. The flow is positive and has no kink before ``until_us``.
        """

        def amount(x: int) -> int:
            return per_us * x + per_quantum * self.integral(t0_us, t0_us + x)

        horizon = until_us - t0_us
        if horizon <= 0:
            return None
        bounds = self.rate_range(t0_us, until_us)
        if bounds is not None and per_us >= 0 and per_quantum >= 0:
            # amount() rises with x: if even the fastest rate cannot reach the level by the
            # horizon, neither can the exact integral, and the answer is None without a search.
            most = per_us * horizon + per_quantum * (
                bounds[1] * horizon + slack(bounds[2], horizon)
            )
            if most + BOUND_SLACK * abs(most) < need:
                return None
        c, b = self.terms(t0_us)
        curve = ExpLinear(0.0, per_us + per_quantum * c, per_quantum * b, self.tau_us)
        # Out of reach by far more than any float error: no need to ask the exact integral.
        if curve.at(horizon) < need * (1 - FLOAT_MARGIN) - QUANTA_MARGIN or amount(horizon) < need:
            return None
        root = curve.first_above(float(need), float(horizon))
        guess = float(horizon) if root is None else root
        return t0_us + nearest_integer(guess, lambda x: amount(x) >= need, 1, horizon)


def slack(scale: float, span_us: float) -> float:
    """How far an ``integral`` over ``span_us`` (either rounding) may be from its rate's bounds
    times the span, with room for the float error of the bound itself."""
    return BOUND_SLACK * scale * (span_us + 1) + BOUND_QUANTA
