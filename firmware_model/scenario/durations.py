"""Durations as people write them: seconds as a number, or "45d", "10d18h30m", "90s"."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from firmware_model.scenario.errors import ScenarioError
from firmware_model.units import US_PER_DAY, US_PER_HOUR, US_PER_MIN, US_PER_MS, US_PER_S

UNITS_US = {
    "w": 7 * US_PER_DAY,
    "d": US_PER_DAY,
    "h": US_PER_HOUR,
    "m": US_PER_MIN,
    "s": US_PER_S,
    "ms": US_PER_MS,
    "us": 1,
}
_ORDER = list(UNITS_US)
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(w|d|h|ms|m|us|s)")  # ASCII digits only


def parse_duration_us(value: object, key: str) -> int:
    """Microseconds from a number of seconds or a string of value-unit parts, largest first."""
    if isinstance(value, bool):
        raise ScenarioError(f"{key}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        amount = _decimal(value, key)
        return _non_negative(round(amount * US_PER_S), value, key)
    if not isinstance(value, str):
        raise ScenarioError(f'{key}: expected a duration like 90, "90s" or "10d18h30m"')
    text = value.strip()
    position = 0
    total = Decimal(0)
    last_rank = -1
    while position < len(text):
        match = _PART.match(text, position)
        if match is None:
            raise ScenarioError(
                f"{key}: bad duration {value!r}; use number+unit parts from w, d, h, m, s, ms, us"
            )
        number, unit = match.groups()
        rank = _ORDER.index(unit)
        if rank <= last_rank:
            raise ScenarioError(f"{key}: bad duration {value!r}; units largest first, each once")
        last_rank = rank
        total += Decimal(number) * UNITS_US[unit]
        position = match.end()
    if position == 0:
        raise ScenarioError(f"{key}: empty duration")
    if total != total.to_integral_value():
        raise ScenarioError(f"{key}: {value!r} is not a whole number of microseconds")
    return int(total)


def format_duration(us: int) -> str:
    parts = []
    for unit in ("d", "h", "m", "s"):
        amount, us = divmod(us, UNITS_US[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    if us:
        parts.append(f"{us}us")
    return "".join(parts) or "0s"


def _decimal(value: int | float, key: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ScenarioError(f"{key}: not a number: {value!r}") from None
    if not amount.is_finite():
        raise ScenarioError(f"{key}: not a finite number: {value!r}")
    return amount


def _non_negative(us: int, value: object, key: str) -> int:
    if us < 0:
        raise ScenarioError(f"{key}: duration cannot be negative, got {value!r}")
    return us
