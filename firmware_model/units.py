"""Exact units for the pump's physics.

Time is an integer count of microseconds. Flow multipliers (heat) are integers in parts per
billion. Volume is an integer count of *quanta*, chosen so that a piecewise-constant flow
integrates with no rounding at all, over any span of years:

    pumped_quanta = rate_nl_per_day * multiplier_ppb * dt_us

One nanolitre is therefore ``US_PER_DAY * PPB`` quanta. Drug mass follows from volume times
concentration: µg/mL is the same as pg/nL, so quanta times µg/mL is picograms in quanta.
"""

from decimal import Decimal

US_PER_MS = 1_000
US_PER_S = 1_000_000
S_PER_DAY = 86_400
US_PER_MIN = 60 * US_PER_S
US_PER_HOUR = 3_600 * US_PER_S
US_PER_DAY = S_PER_DAY * US_PER_S
PPM = 1_000_000
PPB = 1_000_000_000
QUANTA_PER_NL = US_PER_DAY * PPB
NL_PER_UL = 1_000
NL_PER_ML = 1_000_000
UL_PER_ML = 1_000
PG_PER_NG = 1_000
NG_PER_UG = 1_000
MILLI_C_PER_C = 1_000
BODY_TEMPERATURE_MC = 37_000  # 37 °C in milli-degrees


def ml_to_nl(ml: float | int | str | Decimal) -> int:
    """Millilitres as people write them (0.1, "19.5") to whole nanolitres, via decimal."""
    return round(Decimal(str(ml)) * NL_PER_ML)


def nl_to_quanta(nl: int) -> int:
    return nl * QUANTA_PER_NL


def quanta_to_nl(quanta: int) -> int:
    """Whole nanolitres, rounded down: a reservoir never shows more than it holds."""
    return quanta // QUANTA_PER_NL


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def spoken_duration(seconds: int) -> str:
    """A wait as a person reads it, largest units first: "2 h 59 min 1 s", "15 min"."""
    hours, rest = divmod(seconds, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v} {unit}" for v, unit in ((hours, "h"), (minutes, "min"), (secs, "s")) if v]
    return " ".join(parts) or "0 s"


def round_div(numerator: int, denominator: int) -> int:
    """Nearest integer, halves rounded up (for positive operands)."""
    return (2 * numerator + denominator) // (2 * denominator)


def volume_nl_for_dose(dose_ug: int, concentration_ug_per_ml: int) -> int:
    """Nanolitres that carry a dose: µg / (µg/mL) = mL, times 10⁶ nL/mL, rounded [M]."""
    return round_div(dose_ug * NL_PER_ML, concentration_ug_per_ml)


def rate_nl_per_day(volume_nl: int, duration_us: int) -> int:
    """The whole-nL/day rate that moves a volume in a duration, rounded [M]."""
    return round_div(volume_nl * US_PER_DAY, duration_us)
