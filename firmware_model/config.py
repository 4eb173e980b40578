"""The pump's configurable parameters, with their defaults and where each number comes from.

Tags as in shared/domain.md: [S] public source, [U] commonly quoted, unconfirmed, [M] our choice.
"""

from dataclasses import dataclass

from firmware_model.errors import PumpRefusal, Refusal


@dataclass(frozen=True, slots=True)
class PumpConfig:
    # [S] SynchroMed/IsoMed information for prescribers: models 8637-20 and 8637-40.
    reservoir_capacity_nl: int = 20_000_000
    # [S] programmable low-reservoir volume; [U] default 2.0 mL (domain.md, Reservoir table).
    low_reservoir_nl: int = 2_000_000
    # [U/M] delivery stops with 0.5 mL of unusable volume left (domain.md, Empty reservoir).
    empty_nl: int = 500_000
    # [S] Lioresal intrathecal label: do not exceed 1000 µg/day.
    max_dose_ug_per_day: int = 1_000
    # [U] programmable rate 0.048 to 24 mL/day (domain.md, Programmable rate).
    min_rate_nl_per_day: int = 48_000
    max_rate_nl_per_day: int = 24_000_000
    # [M] event log ring size: enough for years of weekly visits and daily alarms.
    event_log_capacity: int = 4_096

    def __post_init__(self) -> None:
        if self.reservoir_capacity_nl not in (20_000_000, 40_000_000):
            raise PumpRefusal(Refusal.OUT_OF_RANGE, "reservoir capacity must be 20 or 40 mL")
        if not 0 <= self.empty_nl < self.low_reservoir_nl < self.reservoir_capacity_nl:
            raise PumpRefusal(
                Refusal.OUT_OF_RANGE,
                "thresholds must satisfy 0 <= empty < low reservoir < capacity",
            )
        if not 0 < self.min_rate_nl_per_day <= self.max_rate_nl_per_day:
            raise PumpRefusal(Refusal.OUT_OF_RANGE, "rate limits must satisfy 0 < min <= max")
        if self.max_dose_ug_per_day <= 0 or self.event_log_capacity <= 0:
            raise PumpRefusal(Refusal.OUT_OF_RANGE, "limits must be positive")
