"""Heat: the pump flows faster when warm (hot tub, heating pad, fever).

Flow multiplier 1 + k (T - 37 °C) while the pump body is above body temperature, 1 otherwise
[M, docs/domain.md Heat]. The body follows its surroundings as a first-order lag [M]: when they
change to T_target at t0, T(t) = T_target + (T(t0) - T_target) e^(-(t - t0)/tau), starting
from wherever the body was. With tau = 0 it takes the new temperature at once.

This module holds that curve (``Lag``): its value, the instant it crosses 37 °C, the exact
integral of its excess over 37 °C, and when it has settled. The curve approaches its target
forever; it is taken as settled once what the rest of its tail could still add to the flow,
at the highest programmable rate, is under one quantum (firmware_model/units.py) [M], so
that from then on flow is constant again and integrates in integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from firmware_model.units import BODY_TEMPERATURE_MC

# [M] a curve closer than a micro-degree to its target is there, whatever else the bound says.
SETTLED_WITHIN_MC = 1e-3
# Integrals a curve keeps (see ``excess_integral``); past this it forgets them all.
MEMO_SIZE = 512


def settle_bound_mc(max_rate_nl_per_day: int, coefficient_ppb_per_mc: int, tau_us: int) -> float:
    """Deviation below which the rest of a tail adds under one quantum at the highest rate.

    The tail from deviation d adds heat * d * tau quanta, heat = rate * k (quanta per µs per
    m°C: nL/day x ppb/m°C), so d < 1 / (max rate * k * tau) keeps it under one quantum.
    """
    scale = max_rate_nl_per_day * coefficient_ppb_per_mc * tau_us
    return SETTLED_WITHIN_MC if scale == 0 else min(SETTLED_WITHIN_MC, 1 / scale)


@dataclass(frozen=True, slots=True)
class Lag:
    """The pump body's temperature: target_mc + deviation_mc e^(-(t - since_us) / tau_us)."""

    target_mc: int
    deviation_mc: float = 0.0  # at since_us; exactly 0.0 once settled
    since_us: int = 0
    tau_us: int = 0
    # excess_integral's answers by interval: the pump's integral of a segment is asked again
    # by the over-infusion window (the same interval), and again as its trailing edge an hour
    # later. A pure function of the fields: remembering it changes no bit of any result.
    _memo: dict[tuple[int, int], tuple[int, float, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # ``excess_range`` answers by instant: the window's two ends and the pump share a curve.
    _ranges: dict[tuple[int, int], tuple[float, float, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def settled(self) -> bool:
        return self.deviation_mc == 0.0

    def deviation_at(self, t_us: float) -> float:
        if self.deviation_mc == 0.0:
            return 0.0
        return self.deviation_mc * math.exp((self.since_us - t_us) / self.tau_us)

    def temperature_at(self, t_us: float) -> float:
        return self.target_mc + self.deviation_at(t_us)

    def toward(self, target_mc: int, t_us: int, bound_mc: float) -> Lag:
        """The curve from ``t_us`` towards a new target, starting where the body is now."""
        deviation = (self.target_mc - target_mc) + self.deviation_at(t_us)
        if self.tau_us == 0 or abs(deviation) <= bound_mc:
            deviation = 0.0
        return Lag(target_mc, float(deviation), t_us, self.tau_us)

    def warm_from(self, t_us: int) -> bool:
        """Whether the curve is above 37 °C at some instant from ``t_us`` on, before it has
        settled: whether it still shapes the flow. It heads monotonically for its target."""
        if self.settled:
            return False
        return (
            self.target_mc > BODY_TEMPERATURE_MC or self.temperature_at(t_us) > BODY_TEMPERATURE_MC
        )

    def settle_us(self, bound_mc: float) -> float:
        """When the deviation falls to the bound (now, if it already has)."""
        size = abs(self.deviation_mc)
        if size <= bound_mc:
            return float(self.since_us)
        return self.since_us + self.tau_us * math.log(size / bound_mc)

    def crossing_us(self) -> float | None:
        """The instant after ``since_us`` the curve crosses 37 °C; None if it never does."""
        delta = self.target_mc - BODY_TEMPERATURE_MC
        deviation = self.deviation_mc
        if delta == 0 or deviation == 0.0 or (delta > 0) == (deviation > 0):
            return None
        ratio = -deviation / delta  # delta + deviation e^(-x/tau) = 0 at e^(x/tau) = ratio
        return self.since_us + self.tau_us * math.log(ratio) if ratio > 1.0 else None

    def next_change_us(self, after_us: int, bound_mc: float) -> int:
        """The first microsecond after ``after_us`` at which the curve crosses 37 °C or
        settles, whichever comes first: the next instant its flow multiplier changes form."""
        at = self.settle_us(bound_mc)
        crossing = self.crossing_us()
        if crossing is not None and after_us < crossing < at:
            at = crossing
        return max(after_us + 1, math.ceil(at))

    def excess_range(self, from_us: int, to_us: int) -> tuple[float, float, float] | None:
        """(lowest, highest, scale) of max(0, T - 37 °C) from ``from_us`` to ``to_us``, in m°C
        (the curve is monotone, so its ends bound it), and the magnitude of its terms; None
        before the curve's start. For bounds that spare a search (firmware_model/flow.py)."""
        if from_us < self.since_us:
            return None
        ranges = self._ranges
        key = (from_us, to_us)
        known = ranges.get(key)
        if known is not None:
            return known
        delta = self.target_mc - BODY_TEMPERATURE_MC
        start = self.deviation_mc
        if start == 0.0:  # deviation_at, inline (hot): the same expression
            deviation = end = 0.0
        else:
            since, tau = self.since_us, self.tau_us
            deviation = start * math.exp((since - from_us) / tau)
            end = start * math.exp((since - to_us) / tau)
        first = delta + deviation
        last = delta + end
        low, high = (first, last) if first <= last else (last, first)
        answer = (
            low if low > 0 else 0.0,
            high if high > 0 else 0.0,
            abs(delta) + abs(deviation),
        )
        if len(ranges) >= MEMO_SIZE:
            ranges.clear()
        ranges[key] = answer
        return answer

    def excess_terms(self, t_us: float) -> tuple[float, float]:
        """(c, b) with max(0, T - 37 °C) = c + b e^(-(s - t)/tau) for s from ``t_us`` to the
        next crossing of 37 °C: the smooth form of the excess on the side the curve is on."""
        delta = self.target_mc - BODY_TEMPERATURE_MC
        start = self.deviation_mc  # deviation_at, inline (hot)
        deviation = 0.0 if start == 0.0 else start * math.exp((self.since_us - t_us) / self.tau_us)
        excess = delta + deviation
        if excess > 0 or (excess == 0 and delta > 0):
            return float(delta), deviation
        return 0.0, 0.0

    def excess_integral(self, a_us: int, b_us: int) -> tuple[int, float, float]:
        """The integral of max(0, T - 37 °C) over [a, b], in m°C µs, as (exact, approx, scale):
        an exact integer part, a floating part, and the magnitude of the floating terms it
        was computed from, which bounds its error in units of their last bits (so callers can
        round it outwards by a margin that shrinks with the interval)."""
        memo = self._memo
        key = (a_us, b_us)
        known = memo.get(key)
        if known is None:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            known = memo[key] = self._excess_integral(a_us, b_us)
        return known

    def _excess_integral(self, a_us: int, b_us: int) -> tuple[int, float, float]:
        delta = self.target_mc - BODY_TEMPERATURE_MC
        span = b_us - a_us
        if self.deviation_mc == 0.0:
            return (delta * span if delta > 0 else 0), 0.0, 0.0
        tau = self.tau_us
        d_a = self.deviation_mc * math.exp((self.since_us - a_us) / tau)  # deviation_at(a_us)
        d_b = d_a * math.exp(-span / tau)
        at_a, at_b = delta + d_a, delta + d_b
        if at_a >= 0 and at_b >= 0:
            part = d_a * tau * -math.expm1(-span / tau)  # expm1: accurate for short spans
            return delta * span, part, abs(part)
        if at_a <= 0 and at_b <= 0:
            return 0, 0.0, 0.0
        # It crosses 37 °C inside. Written so that terms which would cancel near the
        # crossing never appear: the error then scales with the time spent above 37 °C.
        size = abs(delta)
        if at_a > 0:  # cooling through 37 °C: above it for x = tau ln(1 + q), q = excess/|delta|
            q = at_a / size
            above = tau * math.log1p(q)
            part = size * tau * (q - math.log1p(q))
        else:  # warming through 37 °C: above it for the last y of the span
            above = max(0.0, span - tau * math.log(d_a / -delta))
            z = above / tau
            part = delta * tau * (z + math.expm1(-z))
        return 0, part, (size + abs(d_a)) * (above + 1) + abs(part)
