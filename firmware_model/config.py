"""The pump's configurable parameters, with their defaults and where each number comes from.

Tags as in docs/domain.md: [S] public source, [U] commonly quoted, unconfirmed, [M] our
modelling choice. Every value is an integer in the unit its name states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from firmware_model.drug_library import DEFAULT_LIBRARY, DrugLimits
from firmware_model.errors import PumpRefusal, Refusal
from firmware_model.units import NL_PER_ML, PPM, US_PER_DAY, US_PER_HOUR, US_PER_MIN

RESERVOIR_MODELS_NL = (20 * NL_PER_ML, 40 * NL_PER_ML)
# [M] at most a day of quiescent drain per telemetry session, four times the default: zero
# models a free link, and a unit slip (6d for 6h) is refused rather than run.
MAX_BATTERY_US_PER_SESSION = US_PER_DAY


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """A rule a configuration breaks: the fields it is about (the one it constrains first,
    then those it is checked against) and why, in the configuration's own words."""

    fields: tuple[str, ...]
    message: str


class ConfigRefused(PumpRefusal):
    """A ``PumpConfig`` refused. Each problem names its fields, so that a front end (a
    scenario's [pump] table, a command line) can name its own key for each."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        super().__init__(Refusal.OUT_OF_RANGE, "; ".join(p.message for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class PumpConfig:
    # [S] SynchroMed/IsoMed information for prescribers: models 8637-20 and 8637-40.
    reservoir_capacity_nl: int = 20 * NL_PER_ML
    # [S] programmable low-reservoir volume; [U] default 2.0 mL, range 1 mL to capacity - 1 mL.
    low_reservoir_nl: int = 2 * NL_PER_ML
    # [U/M] delivery stops with 0.5 mL of unusable volume left (docs/domain.md, Empty reservoir).
    empty_nl: int = 500_000
    # [M] pump tubing plus catheter dead space, filled by the priming bolus (docs/domain.md).
    catheter_volume_nl: int = 200_000
    # [M] a refill whose measured residual differs from the expected one by more than this is
    # logged as a discrepancy, and the programmer asks again: drug may have gone into the
    # pocket instead of the pump (about 1 refill in 10 000, FDA pocket-fill reports [S]), or
    # the catheter may be leaking or blocked. 1 mL is past any measuring error of a syringe.
    refill_discrepancy_nl: int = 1_000_000
    # [M] heat: flow multiplier 1 + k (T - 37 °C) above 37 °C, k = 0.08 /°C, held here as parts
    # per billion per milli-degree (0.08 /°C = 80 000 ppb/m°C). docs/domain.md, Heat.
    heat_coefficient_ppb_per_mc: int = 80_000
    # [M] first-order thermal time constant of the pump body; 0 = temperature steps at once.
    thermal_time_constant_us: int = 0
    # [U] programmable rate 0.048 to 24 mL/day (docs/domain.md, Programmable rate).
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
    # [M] a telemetry session costs 6 hours of quiescent drain, once per session (at the
    # interrogation that opens it), whatever the requests it carries. No public figure for the
    # telemetry's drain was found; 6 h makes sessions visible in the battery count without
    # rivalling delivery: a weekly session for 7 years costs 3 months (3.6 %) of the battery.
    # 0 to MAX_BATTERY_US_PER_SESSION; scenario key telemetry_session_cost.
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
        problems = self._problems()
        if problems:
            raise ConfigRefused(problems)

    def _problems(self) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []

        def check(ok: bool, message: str, *fields: str) -> None:
            if not ok:
                problems.append(ConfigProblem(fields, message))

        capacity = self.reservoir_capacity_nl
        check(
            capacity in RESERVOIR_MODELS_NL,
            "reservoir capacity must be 20 or 40 mL",
            "reservoir_capacity_nl",
        )
        check(
            NL_PER_ML <= self.low_reservoir_nl <= capacity - NL_PER_ML,
            "low-reservoir alarm must lie between 1 mL and capacity - 1 mL",
            "low_reservoir_nl",
            "reservoir_capacity_nl",
        )
        check(
            0 <= self.empty_nl < self.low_reservoir_nl,
            "empty threshold must lie between 0 and the low-reservoir alarm",
            "empty_nl",
            "low_reservoir_nl",
        )
        check(
            0 < self.refill_discrepancy_nl <= capacity,
            "refill discrepancy threshold must lie between 0 and the capacity",
            "refill_discrepancy_nl",
            "reservoir_capacity_nl",
        )
        check(
            0 <= self.catheter_volume_nl <= NL_PER_ML,
            "catheter volume must lie between 0 and 1 mL",
            "catheter_volume_nl",
        )
        check(
            self.heat_coefficient_ppb_per_mc >= 0,
            "heat coefficient cannot be negative",
            "heat_coefficient_ppb_per_mc",
        )
        check(
            self.thermal_time_constant_us >= 0,
            "thermal time constant cannot be negative",
            "thermal_time_constant_us",
        )
        check(
            0 < self.min_rate_nl_per_day <= self.max_rate_nl_per_day,
            "rate limits must satisfy 0 < min <= max",
            "min_rate_nl_per_day",
            "max_rate_nl_per_day",
        )
        check(
            0 < self.priming_rate_nl_per_day <= self.max_rate_nl_per_day,
            "priming rate must lie within the rate limits",
            "priming_rate_nl_per_day",
            "max_rate_nl_per_day",
        )
        check(
            self.max_dose_ug_per_day is None or self.max_dose_ug_per_day > 0,
            "maximum dose must be positive",
            "max_dose_ug_per_day",
        )
        check(
            self.max_dose_increase_pct is None or self.max_dose_increase_pct > 0,
            "maximum dose increase must be positive",
            "max_dose_increase_pct",
        )
        check(
            0 < self.min_bolus_duration_us <= self.max_bolus_duration_us,
            "bolus duration limits must satisfy 0 < min <= max",
            "min_bolus_duration_us",
            "max_bolus_duration_us",
        )
        check(
            self.over_infusion_window_us > 0,
            "over-infusion window must be positive",
            "over_infusion_window_us",
        )
        check(
            self.over_infusion_tolerance_ppb >= 0,
            "over-infusion tolerance cannot be negative",
            "over_infusion_tolerance_ppb",
        )
        check(
            self.mri_recovery_delay_us >= 0,
            "MRI recovery delay cannot be negative",
            "mri_recovery_delay_us",
        )
        check(self.eri_to_eos_us >= 0, "ERI-to-EOS interval cannot be negative", "eri_to_eos_us")
        check(
            self.battery_life_at_zero_flow_us > self.eri_to_eos_us,
            "battery life must exceed the ERI-to-EOS interval",
            "battery_life_at_zero_flow_us",
            "eri_to_eos_us",
        )
        check(
            self.battery_us_per_nl >= 0,
            "battery cost per nL cannot be negative",
            "battery_us_per_nl",
        )
        check(
            0 <= self.battery_us_per_session <= MAX_BATTERY_US_PER_SESSION,
            "telemetry session cost must lie between 0 and 24 h of quiescent drain",
            "battery_us_per_session",
        )
        check(
            0 <= self.initial_battery_ppm <= PPM,
            "initial battery must lie between 0 and 1 000 000 ppm",
            "initial_battery_ppm",
        )
        check(
            self.event_log_capacity > 0, "event log capacity must be positive", "event_log_capacity"
        )
        check(self.link_log_capacity > 0, "link log capacity must be positive", "link_log_capacity")
        check(bool(self.drug_library), "the drug library cannot be empty", "drug_library")
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
