"""Over-infusion detection: delivered versus programmed over a sliding window, exactly.

The pump tracks G(t), the integral over the last W microseconds of

    g = actual flow - (1 + tolerance) * programmed flow

Over-infusion is the condition G > 0. The integrand is piecewise constant, so G is piecewise
linear: its slope is g(t) - g(t - W), and changes only when g changes or when the trailing
edge of the window passes a point where g changed. Both kinds of instant are known ahead,
so the instant G crosses zero is solved for, never polled.
"""

from __future__ import annotations

from collections import deque


class ExcessWindow:
    def __init__(self, window_us: int) -> None:
        self.window_us = window_us
        self.value = 0  # G, in quanta
        self.g = 0  # integrand now, quanta per µs
        self.trailing_g = 0  # integrand at t - W
        self.changes: deque[tuple[int, int]] = deque()  # (t_us, g from then) within the window

    def set_integrand(self, t_us: int, g: int) -> None:
        if g != self.g:
            self.changes.append((t_us, g))
            self.g = g

    def integrate(self, dt_us: int) -> None:
        """Move forward; the caller never crosses a trailing edge inside ``dt_us``."""
        self.value += (self.g - self.trailing_g) * dt_us

    def next_edge_us(self) -> int | None:
        return self.changes[0][0] + self.window_us if self.changes else None

    def pass_edges(self, t_us: int) -> None:
        changes = self.changes
        while changes and changes[0][0] + self.window_us <= t_us:
            self.trailing_g = changes.popleft()[1]

    def next_crossing_us(self, over: bool) -> int | None:
        """Microseconds until G next enters (over=False) or leaves (over=True) G > 0."""
        slope = self.g - self.trailing_g
        if over:
            return -(-self.value // -slope) if slope < 0 else None
        if slope > 0:
            return -self.value // slope + 1
        return None
