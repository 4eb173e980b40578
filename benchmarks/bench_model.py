"""Simulated therapy: years of refills and dose changes, integrated exactly."""

import time

from firmware_model import Pump
from firmware_model.units import US_PER_DAY

YEARS = 7
ML = 1_000_000


def bench_years_of_therapy() -> str:
    """Weekly dose changes, a refill whenever the low-reservoir alarm is near."""
    started = time.perf_counter()
    pump = Pump()
    pump.refill(20 * ML, 500)
    events = 0
    for week in range(YEARS * 52):
        t_us = week * 7 * US_PER_DAY
        pump.advance_to(t_us)
        if pump.status().reservoir_nl < 6 * ML:
            pump.refill(20 * ML, 500)
            events += 1
        pump.set_dose(200 + (week % 5) * 20)
        events += 1
    pump.advance_to(YEARS * 365 * US_PER_DAY)
    elapsed = time.perf_counter() - started
    return (
        f"model: {YEARS} years, {events} programming events, {len(pump.log)} log entries "
        f"in {elapsed * 1000:.1f} ms wall"
    )
