"""One thing that happened at an instant of a timeline, as both pictures mark it."""

from __future__ import annotations

from typing import NamedTuple


class Marker(NamedTuple):
    """Something at ``t_day``: ``what`` names it (an alarm, a bolus's kind, "refill");
    ``volume_ml`` is what it moved or added, where that is known."""

    t_day: float
    what: str
    volume_ml: float = 0.0
