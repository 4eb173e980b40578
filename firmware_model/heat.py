"""Heat: the pump flows faster when warm (hot tub, heating pad, fever).

Flow multiplier 1 + k (T - 37 °C) above body temperature, 1 below it [M, domain.md Heat].
With a thermal time constant the pump body approaches a new temperature exponentially; the
model follows that curve as a staircase of constant temperatures (a step every quarter time
constant), so that flow stays piecewise constant and every alarm instant stays exact [M].
"""

from __future__ import annotations

import math

from firmware_model.units import BODY_TEMPERATURE_MC, PPB

STEPS_PER_TIME_CONSTANT = 4
SETTLED_WITHIN_MC = 10  # closer than 0.01 °C to the target counts as there


def flow_multiplier_ppb(temperature_mc: int, coefficient_ppb_per_mc: int) -> int:
    excess_mc = temperature_mc - BODY_TEMPERATURE_MC
    return PPB + coefficient_ppb_per_mc * excess_mc if excess_mc > 0 else PPB


def next_staircase_step(current_mc: int, target_mc: int) -> int:
    """Temperature after one more step towards the target."""
    gap = current_mc - target_mc
    if abs(gap) <= SETTLED_WITHIN_MC:
        return target_mc
    factor = math.exp(-1 / STEPS_PER_TIME_CONSTANT)
    return target_mc + round(gap * factor)
