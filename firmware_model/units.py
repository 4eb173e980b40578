"""Exact units for the pump's physics.

Time is an integer count of microseconds. Volume is an integer count of quanta so that a
piecewise-constant flow integrates with no rounding at all, over any span of years:

    pumped_quanta = rate_nl_per_day * flow_ppm * dt_us

where ``flow_ppm`` is the flow multiplier in parts per million (1_000_000 at body
temperature). One nanolitre is therefore ``US_PER_DAY * PPM`` quanta.
"""

US_PER_S = 1_000_000
S_PER_DAY = 86_400
US_PER_DAY = US_PER_S * S_PER_DAY
PPM = 1_000_000
NOMINAL_FLOW_PPM = PPM
QUANTA_PER_NL = US_PER_DAY * PPM
NL_PER_UL = 1_000
NL_PER_ML = 1_000_000
UL_PER_ML = 1_000
# µg/mL is the same as pg/nL, so nanolitres times µg/mL gives picograms.
PG_PER_UG = 1_000_000


def ml_to_nl(ml: float | int) -> int:
    return round(ml * NL_PER_ML)


def nl_to_quanta(nl: int) -> int:
    return nl * QUANTA_PER_NL


def quanta_to_nl(quanta: int) -> int:
    """Whole nanolitres, rounded down: a reservoir never shows more than it holds."""
    return quanta // QUANTA_PER_NL


def seconds_to_us(seconds: int) -> int:
    return seconds * US_PER_S


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)
