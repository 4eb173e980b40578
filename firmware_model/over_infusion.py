"""Over-infusion detection: delivered versus programmed over a sliding window, exactly.

The pump tracks G(t), the integral over the last W microseconds of

    g = actual flow - (1 + tolerance) * programmed flow

Over-infusion is the condition G > 0. Its slope is g(t) - g(t - W), which changes only when
g changes or when the trailing edge of the window passes a point where g changed; both are
known ahead, so the instant G crosses zero is solved for, never polled.

While every piece of g in the window is constant, G is piecewise linear and kept exactly in
integers. While a heat lag shapes a piece (firmware_model/flow.py), G between two events is
``v + c x + b tau (1 - e^(-x/tau))``: it is evaluated from the start of the segment (so that
slicing time never changes it) as an upper bound, the leading integral rounded up and the
trailing one down, and its zero found by firmware_model/roots.py. That zero falls between two
microseconds; an alarm about over-delivery takes the earlier one, so under a lag the
condition is "G > 0 by the next microsecond", and with the upper bound the alarm is never
later than the true instant. Once the last lagged piece has left the window, G is
recomputed exactly from its pieces and the condition is G > 0 again.
"""

from __future__ import annotations

from collections import deque

from firmware_model.flow import BOUND_QUANTA, BOUND_SLACK, Flow, slack
from firmware_model.roots import ExpLinear, nearest_integer

CONSTANT_ZERO = Flow(0)
BOUNDS_MEMO_SIZE = 8  # spans remembered for one segment (the planner asks two or three)


class ExcessWindow:
    def __init__(self, window_us: int) -> None:
        self.window_us = window_us
        self.value = 0  # G, in quanta
        self.g = CONSTANT_ZERO  # integrand now
        self.trailing = CONSTANT_ZERO  # integrand at t - W
        self.changes: deque[tuple[int, Flow]] = deque()  # (t_us, g from then) within the window
        self.start_us = 0  # the segment G is evaluated from while a piece is lagged
        self.start_value = 0
        self.exact = True  # False while G carries the rounding of lagged pieces
        self.lagged = False  # a heat lag shapes g or the trailing integrand (cached)
        self.slope = 0  # g - trailing while neither is lagged (cached)
        # ``_bounds``' answers by span, for the segment (start_us, g, trailing, start_value) in
        # ``_bounds_of``: Flows are values, never changed, so they are compared by identity.
        self._bounds_memo: dict[int, tuple[float, float] | None] = {}
        self._bounds_of: tuple[int, Flow, Flow, int] | None = None

    def refresh(self) -> None:
        """Recompute what is cached from ``g`` and ``trailing`` (after setting either)."""
        g, trailing = self.g, self.trailing
        self.lagged = g.lag is not None or trailing.lag is not None
        self.slope = 0 if self.lagged else g.base - trailing.base

    def set_integrand(self, t_us: int, g: Flow) -> None:
        if g != self.g:
            self.changes.append((t_us, g))
            self.g = g
            self.refresh()

    def set_constant_integrand(self, t_us: int, g: int) -> None:
        """``set_integrand`` for a constant integrand: the common case, kept cheap."""
        current = self.g
        if current.lag is not None or current.base != g:
            self.g = Flow(g)
            self.changes.append((t_us, self.g))
            self.refresh()

    def begin_segment(self, t_us: int) -> None:
        self.start_us = t_us
        self.start_value = self.value

    def advance(self, dt_us: int, t_to_us: int) -> None:
        """Move forward to ``t_to_us``; the caller never crosses a trailing edge inside."""
        if not self.lagged:
            self.value += self.slope * dt_us
            return
        self.value = self._from_start(t_to_us - self.start_us)
        self.exact = False

    def advance_lead(self, t_to_us: int, lead_q: int) -> None:
        """``advance`` under a lag, given the leading integral from the segment start (the
        caller has it already: see Pump._integrate)."""
        x_us = t_to_us - self.start_us
        t0 = self.start_us - self.window_us
        trailing = self.trailing.integral(t0, t0 + x_us, upper=False)
        self.value = self.start_value + lead_q - trailing
        self.exact = False

    def _from_start(self, x_us: int) -> int:
        """G at ``x_us`` after the segment start, an upper bound when a piece is lagged."""
        t0, w = self.start_us, self.window_us
        leading = self.g.integral(t0, t0 + x_us, upper=True)
        trailing = self.trailing.integral(t0 - w, t0 - w + x_us, upper=False)
        return self.start_value + leading - trailing

    def over(self, t_us: int) -> bool:
        """The over-infusion condition at ``t_us`` (see the module docstring)."""
        if not self.lagged:
            return self.value > 0
        x = t_us + 1 - self.start_us
        bounds = self._bounds(x)
        if bounds is not None:
            if bounds[1] < 0:
                return False
            if bounds[0] > 0:
                return True
        return self._from_start(x) > 0

    def sign_until(self, until_us: int) -> bool | None:
        """True (over) or False when G keeps that sign from the segment start to
        ``until_us`` whatever its exact arithmetic, as bounds show cheaply; None when they
        cannot tell (then ask ``over`` and ``next_crossing_us``)."""
        t0 = self.start_us
        horizon = until_us - t0
        if horizon <= 0:
            return None
        x_us = horizon + 1
        # First, the loosest bounds, at the cost of one exponential (the usual answer: G stays
        # negative): the leading rate at its highest from now on, the trailing one at its floor.
        lead = self.g.ceiling(t0)
        trail = self.trailing.floor(t0 - self.window_us)
        if lead is not None and trail is not None:
            value = float(self.start_value)
            # slack(lead[1] + trail[1], x_us) + BOUND_QUANTA + BOUND_SLACK * abs(value), inline
            room = (
                BOUND_SLACK * (lead[1] + trail[1]) * (x_us + 1)
                + BOUND_QUANTA
                + BOUND_QUANTA
                + BOUND_SLACK * abs(value)
            )
            rises = lead[0] - trail[0]
            if value + (rises if rises > 0.0 else 0.0) * x_us + room < 0:
                return False
        bounds = self._bounds(x_us)
        if bounds is None:
            return None
        if bounds[1] < 0:
            return False
        if bounds[0] > 0:
            return True
        return None

    def _bounds(self, x_us: int) -> tuple[float, float] | None:
        """Floats below and above G over the first ``x_us`` of the segment, far enough out
        that the exact arithmetic never leaves them; None when a piece cannot tell."""
        t0, g, trailing, start_value = self.start_us, self.g, self.trailing, self.start_value
        # The planner asks twice over the same span (sign_until, then the search), with a
        # look at the first microsecond (``over``) between: answers by span, for one segment.
        memo = self._bounds_memo
        asked = self._bounds_of
        if (
            asked is None
            or asked[0] != t0
            or asked[1] is not g
            or asked[2] is not trailing
            or asked[3] != start_value
        ):
            memo.clear()
            self._bounds_of = (t0, g, trailing, start_value)
        elif x_us in memo:
            return memo[x_us]
        lead = g.rate_range(t0, t0 + x_us)
        trail = trailing.rate_range(t0 - self.window_us, t0 - self.window_us + x_us)
        answer: tuple[float, float] | None = None
        if lead is not None and trail is not None:
            value = float(start_value)
            room = slack(lead[2] + trail[2], x_us) + BOUND_QUANTA + BOUND_SLACK * abs(value)
            rises = max(0.0, lead[1] - trail[0]) * x_us
            falls = min(0.0, lead[0] - trail[1]) * x_us
            answer = value + falls - room, value + rises + room
        if len(memo) >= BOUNDS_MEMO_SIZE:
            memo.clear()
        memo[x_us] = answer
        return answer

    def next_edge_us(self) -> int | None:
        return self.changes[0][0] + self.window_us if self.changes else None

    def pass_edges(self, t_us: int) -> None:
        changes = self.changes
        passed = False
        while changes and changes[0][0] + self.window_us <= t_us:
            self.trailing = changes.popleft()[1]
            passed = True
        if not passed:
            return
        self.refresh()
        if not self.exact and self._all_constant():
            self.value = self._exact_value(t_us)
            self.exact = True

    def _all_constant(self) -> bool:
        if self.g.lag is not None or self.trailing.lag is not None:
            return False  # the usual answer under a lag, without a look at every piece
        return all(g.lag is None for _, g in self.changes)

    def _exact_value(self, t_us: int) -> int:
        start = t_us - self.window_us
        piece = self.trailing
        total = 0
        for at, following in self.changes:
            total += piece.base * (at - start)
            start, piece = at, following
        return total + piece.base * (t_us - start)

    def next_crossing_us(self, over: bool, until_us: int) -> int | None:
        """The instant after the segment start that G next enters (over=False) or leaves
        (over=True) G > 0, if before ``until_us``; None otherwise."""
        t0, value = self.start_us, self.start_value
        if not self.lagged:
            slope = self.slope
            if over:
                return t0 + -(-value // -slope) if slope < 0 else None
            if slope > 0:
                return t0 + -value // slope + 1
            return None
        return self._lagged_crossing_us(over, until_us)

    def _lagged_crossing_us(self, over: bool, until_us: int) -> int | None:
        """The instant the lagged condition "G > 0 by the next µs" flips: G's zero, found on
        smooth stretches of G from one microsecond after the segment start on, less 1 µs."""
        g, trailing, w = self.g, self.trailing, self.window_us
        t0 = self.start_us
        horizon = until_us - t0
        if horizon <= 0:
            return None
        bounds = self._bounds(horizon + 1)
        if bounds is not None and (bounds[0] > 0 if over else bounds[1] < 0):
            return None  # G cannot reach zero before the horizon: no root to look for
        # Smooth stretches: split where either piece's lag crosses 37 °C.
        kinks = sorted(
            at - base
            for at, base in ((g.kink_after(t0), t0), (trailing.kink_after(t0 - w), t0 - w))
            if at is not None and 1 < at - base < horizon + 1
        )
        tau = g.tau_us if g.lag is not None else trailing.tau_us

        def curve(x: float, value: float) -> ExpLinear:
            """G from ``x`` on, where it is ``value``, up to the next kink."""
            lead_c, lead_b = g.terms(t0 + x)
            trail_c, trail_b = trailing.terms(t0 - w + x)
            return ExpLinear(value, lead_c - trail_c, lead_b - trail_b, tau)

        def holds(x: int) -> bool:
            return (self._from_start(x + 1) > 0) != over

        start = 1.0
        stretch = curve(0.0, float(self.start_value))
        stretch = curve(start, stretch.at(start))
        for end in [*kinks, float(horizon + 1)]:
            root = (stretch.negated() if over else stretch).first_above(0.0, end - start)
            if root is not None:
                return t0 + nearest_integer(start + root - 1, holds, 1, horizon)
            start, stretch = end, curve(end, stretch.at(end - start))
        return None
