"""The drug library: hard limits the pump enforces whatever the clinician enters."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DrugLimits:
    name: str
    max_dose_ug_per_day: int
    max_bolus_ug: int
    min_concentration_ug_per_ml: int
    max_concentration_ug_per_ml: int


BACLOFEN = DrugLimits(
    name="baclofen",
    # [S] Lioresal intrathecal label: do not exceed 1000 µg/day.
    max_dose_ug_per_day=1_000,
    # [M] twice the largest screening bolus (100 µg, drugs.com baclofen dosage [S]).
    max_bolus_ug=200,
    # [S] baclofen intrathecal comes at 50 (screening) to 2000 µg/mL.
    min_concentration_ug_per_ml=50,
    max_concentration_ug_per_ml=2_000,
)

DEFAULT_LIBRARY: dict[str, DrugLimits] = {BACLOFEN.name: BACLOFEN}
