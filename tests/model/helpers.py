"""Small builders shared by the model tests."""

from __future__ import annotations

from firmware_model import Continuous, Pump, PumpConfig
from firmware_model.units import NL_PER_ML, US_PER_DAY, US_PER_HOUR, US_PER_MIN, US_PER_S

ML = NL_PER_ML
DAY = US_PER_DAY
HOUR = US_PER_HOUR
MINUTE = US_PER_MIN
SECOND = US_PER_S


def pump_with_drug(
    volume_nl: int = 20 * ML,
    concentration: int = 500,
    dose: int | None = 200,
    config: PumpConfig | None = None,
) -> Pump:
    """A pump filled with baclofen and, unless dose is None, infusing it continuously."""
    pump = Pump(config)
    pump.refill(volume_nl, concentration)
    if dose is not None:
        pump.program(Continuous(dose), start=True)
    return pump


def first(pump: Pump, kind: str, **match: object) -> int:
    """Time of the first log entry of ``kind`` whose detail has the given items."""
    for entry in pump.log:
        if entry.kind == kind and all(entry.detail.get(k) == v for k, v in match.items()):
            return entry.t_us
    raise AssertionError(f"no {kind} {match} in the log")


def kinds(pump: Pump) -> list[str]:
    return [entry.kind for entry in pump.log]
