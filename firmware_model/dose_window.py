"""The daily totals in force over the last 24 h: what the dose-change cap compares a new one with.

A total is a basal's daily dose in µg times seconds (``Basal.dose_seconds_per_day``: exact for
flex too). It is in force from its programming until the next replaces it, whatever the pump's
state: a stopped pump's prescription is still the one in force, so a stop never clears the
cap's base [M]. A total replaced at instant u was in force up to and including u, so two
programmings at the same microsecond both count: none escapes the window by lasting no time.

The window is (now - 24 h, now] in *model* time, not on the pump clock [M]: a programmer can set
the clock, and setting it a day ahead must not empty the window. The pump clock only names the
window's start in messages, as the log names it: the first programming by the clock when it was
made (a later clock setting does not move it), 24 h ago by the clock now. A pump with nothing
programmed has no window; it starts with the first programming.

Memory stays bounded whatever the programmer sends. A total replaced before the window is
dropped (the one in force at its start stays, its end being inside the window). So is a total
that can no longer be the window's lowest or highest: a later one is as low and a later one as
high, and the later ones stay in the window at least as long. Beyond ``MAX_REPLACED`` the two
oldest merge into the lower of them, in force until the later one ended: the cap can then only
be stricter, never looser.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from firmware_model.units import US_PER_DAY

WINDOW_US = US_PER_DAY
# [M] never reached in titration: the compaction above keeps a handful, and only a long run
# of programmings alternately lower and higher within one day could fill it.
MAX_REPLACED = 64


@dataclass(frozen=True, slots=True)
class Replaced:
    """A total no longer in force: in force up to and including ``until_us`` (model time)."""

    total: int
    until_us: int


@dataclass(frozen=True, slots=True)
class InForce:
    """The lowest and highest totals in force over the window, and where the window starts."""

    lowest: int
    highest: int
    since_us: int  # model time: 24 h ago, or the first programming if that is later
    whole_day: bool  # False: the first programming was less than 24 h ago
    since_clock_us: int | None  # the same instant on the pump clock; None: clock never set


class DoseWindow:
    def __init__(self, capacity: int = MAX_REPLACED) -> None:
        self.capacity = capacity
        self.started_us: int | None = None  # the first programming
        # Pump clock minus model time then (0: not set); None: not known (an older save).
        self.started_offset_us: int | None = None
        self.current: int | None = None  # the total in force now
        self.replaced: deque[Replaced] = deque()  # oldest first

    def record(self, t_us: int, total: int, clock_offset_us: int | None = None) -> None:
        """A basal with daily ``total`` programmed at ``t_us``; it is in force from now."""
        if self.current is None:
            self.started_us = t_us
            self.started_offset_us = clock_offset_us
        else:
            self.replaced.append(Replaced(self.current, t_us))
        self.current = total
        self._compact(t_us)

    def in_force(self, t_us: int, clock_offset_us: int = 0) -> InForce | None:
        """Totals in force during (t_us - 24 h, t_us]; None when nothing was ever programmed.

        ``clock_offset_us``: pump clock minus model time, 0 when the clock was never set.
        """
        if self.current is None or self.started_us is None:
            return None
        start_us = t_us - WINDOW_US
        totals = [r.total for r in self.replaced if r.until_us > start_us]
        totals.append(self.current)
        since_us = max(start_us, self.started_us)
        whole_day = self.started_us <= start_us
        offset = clock_offset_us
        if not whole_day and self.started_offset_us is not None:
            offset = self.started_offset_us  # the clock the log stamped it with
        return InForce(
            lowest=min(totals),
            highest=max(totals),
            since_us=since_us,
            whole_day=whole_day,
            since_clock_us=since_us + offset if offset else None,
        )

    def _compact(self, t_us: int) -> None:
        if self.current is None:
            return
        start_us = t_us - WINDOW_US
        low = high = self.current
        kept: list[Replaced] = []
        for replaced in reversed(self.replaced):
            if replaced.until_us <= start_us:
                break  # it and all before it ended before the window
            if replaced.total < low or replaced.total > high:
                kept.append(replaced)
                low, high = min(low, replaced.total), max(high, replaced.total)
        kept.reverse()
        while len(kept) > self.capacity:
            older, newer = kept[0], kept[1]
            kept[0:2] = [Replaced(min(older.total, newer.total), newer.until_us)]
        self.replaced = deque(kept)

    # -- saved state (firmware_model/persistence.py) --------------------------------------

    def to_plain(self) -> dict[str, Any]:
        return {
            "started_us": self.started_us,
            "started_offset_us": self.started_offset_us,
            "current": self.current,
            "replaced": [[r.total, r.until_us] for r in self.replaced],
        }

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> DoseWindow:
        window = cls()
        started, current = plain["started_us"], plain["current"]
        if (started is None) != (current is None):
            raise ValueError("dose window: a first programming goes with a total in force")
        window.started_us = None if started is None else int(started)
        offset = plain.get("started_offset_us")  # absent from earlier saves: not known
        window.started_offset_us = None if offset is None else int(offset)
        window.current = None if current is None else int(current)
        window.replaced = deque(
            Replaced(int(total), int(until)) for total, until in plain["replaced"]
        )
        if window.current is None and window.replaced:
            raise ValueError("dose window: replaced totals with none in force")
        return window
