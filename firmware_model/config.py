"""The pump's configurable parameters, with their defaults and where each number comes from.

Tags as in shared/domain.md: [S] public source, [U] commonly quoted, unconfirmed, [M] our
modelling choice. Every value is an integer in the unit its name states.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_model.drug_library import DEFAULT_LIBRARY, DrugLimits
from firmware_model.errors import PumpRefusal, Refusal
from firmware_model.units import NL_PER_ML, US_PER_DAY, US_PER_HOUR, US_PER_MIN

RESERVOIR_MODELS_NL = (20 * NL_PER_ML, 40 * NL_PER_ML)


@dataclass(frozen=True, slots=True)
class PumpConfig:
    # [S] SynchroMed/IsoMed information for prescribers: models 8637-20 and 8637-40.
    reservoir_capacity_nl: int = 20 * NL_PER_ML
    # [S] programmable low-reservoir volume; [U] default 2.0 mL, range 1 mL to capacity - 1 mL.
    low_reservoir_nl: int = 2 * NL_PER_ML
    # [U/M] delivery stops with 0.5 mL of unusable volume left (domain.md, Empty reservoir).
    empty_nl: int = 500_000
    # [M] pump tubing plus catheter dead space, filled by the priming bolus (domain.md).
    catheter_volume_nl: int = 200_000
    # [M] heat: flow multiplier 1 + k (T - 37 °C) above 37 °C, k = 0.08 /°C, held here as parts
    # per billion per milli-degree (0.08 /°C = 80 000 ppb/m°C). domain.md, Heat.
    heat_coefficient_ppb_per_mc: int = 80_000
    # [M] first-order thermal time constant of the pump body; 0 = temperature steps at once.
    thermal_time_constant_us: int = 0
    # [U] programmable rate 0.048 to 24 mL/day (domain.md, Programmable rate).
    min_rate_nl_per_day: int = 48_000
    max_rate_nl_per_day: int = 24 * NL_PER_ML
    # [M] the priming bolus runs at the pump's highest rate.
    priming_rate_nl_per_day: int = 24 * NL_PER_ML
    # [S] Lioresal label (1000 µg/day) via the drug library; set to override the library.
    max_dose_ug_per_day: int | None = None
    # [S] Lioresal label titration at refill visits: up to +40 % at a time. The dose-change
    # cap's factor over 24 h (interlocks.check_dose_change says why this figure). None: no cap.
    max_dose_increase_pct: int | None = 40
    # [M] bolus durations the pump accepts.
    min_bolus_duration_us: int = US_PER_MIN
    max_bolus_duration_us: int = US_PER_DAY
    # [S] GPCA functional model: delivered dose over a window above programmed by a tolerance.
    # [M] window 1 h, tolerance 10 %: a 40 °C hot tub (+24 %) alarms after 25 minutes.
    over_infusion_window_us: int = US_PER_HOUR
    over_infusion_tolerance_ppb: int = 100_000_000
    # [S] Medtronic MRI guidelines: return to normal can take 2-24 h; [M] default 0.
    mri_recovery_delay_us: int = 0
    # [S] service life at most 7 years; [M] 2557 days (7 x 365.25) with no flow at all.
    battery_life_at_zero_flow_us: int = 2_557 * US_PER_DAY
    # [S] Medtronic "drug pumps replacement" page: the pump stops 90 days after ERI.
    eri_to_eos_us: int = 90 * US_PER_DAY
    # [M] each nL pumped costs 17.28 ms of quiescent drain: life 7 / (1 + 0.2 v) years before
    # the ERI margin, v in mL/day. 0.4 mL/day gives 6.5 years; 2 mL/day gives 5.1 ([S] 5-7).
    battery_us_per_nl: int = 17_280
    # [M] one telemetry session costs 6 hours of quiescent drain.
    battery_us_per_session: int = 6 * US_PER_HOUR
    # Battery left at start, in parts per million of a new battery.
    initial_battery_ppm: int = 1_000_000
    # [M] clinical event log ring size: years of weekly visits and daily alarms.
    event_log_capacity: int = 4_096
    # [M] link log ring size (sessions, interrogations, refused frames): some 340 sessions.
    # A ring of its own, so link traffic never pushes the clinical history out.
    link_log_capacity: int = 1_024
    drug_library: tuple[DrugLimits, ...] = tuple(DEFAULT_LIBRARY.values())

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise PumpRefusal(Refusal.OUT_OF_RANGE, "; ".join(problems))

    def _problems(self) -> list[str]:
        problems = []
        capacity = self.reservoir_capacity_nl
        if capacity not in RESERVOIR_MODELS_NL:
            problems.append("reservoir capacity must be 20 or 40 mL")
        if not NL_PER_ML <= self.low_reservoir_nl <= capacity - NL_PER_ML:
            problems.append("low-reservoir alarm must lie between 1 mL and capacity - 1 mL")
        if not 0 <= self.empty_nl < self.low_reservoir_nl:
            problems.append("empty threshold must lie between 0 and the low-reservoir alarm")
        if not 0 <= self.catheter_volume_nl <= NL_PER_ML:
            problems.append("catheter volume must lie between 0 and 1 mL")
        if self.heat_coefficient_ppb_per_mc < 0 or self.thermal_time_constant_us < 0:
            problems.append("heat coefficient and time constant cannot be negative")
        if not 0 < self.min_rate_nl_per_day <= self.max_rate_nl_per_day:
            problems.append("rate limits must satisfy 0 < min <= max")
        if not 0 < self.priming_rate_nl_per_day <= self.max_rate_nl_per_day:
            problems.append("priming rate must lie within the rate limits")
        if self.max_dose_ug_per_day is not None and self.max_dose_ug_per_day <= 0:
            problems.append("maximum dose must be positive")
        if self.max_dose_increase_pct is not None and self.max_dose_increase_pct <= 0:
            problems.append("maximum dose increase must be positive")
        if not 0 < self.min_bolus_duration_us <= self.max_bolus_duration_us:
            problems.append("bolus duration limits must satisfy 0 < min <= max")
        if self.over_infusion_window_us <= 0 or self.over_infusion_tolerance_ppb < 0:
            problems.append("over-infusion window must be positive, tolerance not negative")
        if self.mri_recovery_delay_us < 0 or self.eri_to_eos_us < 0:
            problems.append("delays cannot be negative")
        if self.battery_life_at_zero_flow_us <= self.eri_to_eos_us:
            problems.append("battery life must exceed the ERI-to-EOS interval")
        if self.battery_us_per_nl < 0 or self.battery_us_per_session < 0:
            problems.append("battery costs cannot be negative")
        if not 0 <= self.initial_battery_ppm <= 1_000_000:
            problems.append("initial battery must lie between 0 and 1 000 000 ppm")
        if self.event_log_capacity <= 0:
            problems.append("event log capacity must be positive")
        if self.link_log_capacity <= 0:
            problems.append("link log capacity must be positive")
        if not self.drug_library:
            problems.append("the drug library cannot be empty")
        return problems

    def drug(self, name: str) -> DrugLimits | None:
        for limits in self.drug_library:
            if limits.name == name:
                if self.max_dose_ug_per_day is None:
                    return limits
                return DrugLimits(
                    limits.name,
                    self.max_dose_ug_per_day,
                    limits.max_bolus_ug,
                    limits.min_concentration_ug_per_ml,
                    limits.max_concentration_ug_per_ml,
                )
        return None
