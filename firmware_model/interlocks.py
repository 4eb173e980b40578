"""Safety interlocks: the checks a request must pass before it may change anything.

Each check raises ``PumpRefusal`` with the reason and a one-line message; none changes
state. Sources: the drug library's hard limits (Lioresal label [S]), the titration limit
over 24 h (``check_dose_change``), the pump's rate range [U], confirmation to stop (boxed
warning [S]).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, NoReturn

from firmware_model.config import PumpConfig
from firmware_model.dose_window import InForce
from firmware_model.drug_library import DrugLimits
from firmware_model.errors import PumpRefusal, Refusal
from firmware_model.prescription import MAX_FLEX_STEPS, Basal, Flex, PatientLimits, Prescription
from firmware_model.units import (
    NL_PER_ML,
    S_PER_DAY,
    US_PER_S,
    rate_nl_per_day,
    volume_nl_for_dose,
)

MAX_PATIENT_BOLUSES_PER_DAY = 24  # [M]
# [M] the patient-bolus history the pump keeps is 24 h, so a longer lockout could not be
# enforced: it is refused instead.
MAX_PATIENT_LOCKOUT_US = S_PER_DAY * US_PER_S
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the pump clock counts from it (Unix time)


def refuse(reason: Refusal, message: str) -> NoReturn:
    raise PumpRefusal(reason, message)


def rate_for_dose(dose_ug_per_day: int, concentration_ug_per_ml: int) -> int:
    """Flow in nL/day for a daily dose: rate = dose / concentration (docs/domain.md [S]).

    Quantised to whole nL/day, halves up [M]: under 1.3 µL off over a battery's life.
    """
    return volume_nl_for_dose(dose_ug_per_day, concentration_ug_per_ml)


def drug_limits(config: PumpConfig, drug: str) -> DrugLimits:
    limits = config.drug(drug)
    if limits is None:
        names = ", ".join(d.name for d in config.drug_library)
        refuse(Refusal.OUT_OF_RANGE, f"drug {drug!r} is not one of the library's: {names}")
    return limits


def check_concentration(limits: DrugLimits, concentration: int) -> None:
    low, high = limits.min_concentration_ug_per_ml, limits.max_concentration_ug_per_ml
    if not low <= concentration <= high:
        refuse(
            Refusal.OUT_OF_RANGE,
            f"{limits.name} concentration {concentration} ug/mL outside {low}..{high}",
        )


def _ml(nl: int) -> str:
    """mL as the programmer's screens give them, to the nanolitre and no further."""
    return f"{nl / 1_000_000:.6f}".rstrip("0").rstrip(".")


def check_rate(config: PumpConfig, rate: int, needs: str) -> None:
    low, high = config.min_rate_nl_per_day, config.max_rate_nl_per_day
    if not low <= rate <= high:
        refuse(
            Refusal.OUT_OF_RANGE,
            f"{needs} needs {_ml(rate)} mL/day, outside the pump's {_ml(low)}..{_ml(high)} mL/day",
        )


def check_basal(
    config: PumpConfig,
    basal: Basal,
    concentration: int,
    limits: DrugLimits,
    in_force: InForce | None,
    patient: PatientLimits | None,
) -> None:
    if isinstance(basal, Flex):
        starts = [step.start_s for step in basal.steps]
        if not 0 < len(starts) <= MAX_FLEX_STEPS:
            refuse(
                Refusal.OUT_OF_RANGE, f"flex has {len(starts)} steps, outside 1..{MAX_FLEX_STEPS}"
            )
        _check_flex_starts(starts)
    for dose in basal.doses:
        if dose <= 0:
            refuse(
                Refusal.OUT_OF_RANGE,
                f"dose {dose} ug/day outside 1..{limits.max_dose_ug_per_day} ug/day",
            )
        if dose > limits.max_dose_ug_per_day:
            refuse(
                Refusal.DRUG_LIMIT,
                f"dose {dose} ug/day above the {limits.name} limit "
                f"{limits.max_dose_ug_per_day} ug/day",
            )
        check_rate(
            config,
            rate_for_dose(dose, concentration),
            f"dose {dose} ug/day at {concentration} ug/mL",
        )
    check_dose_change(config, basal, in_force)
    check_daily_total(basal, patient, limits)


def check_dose_change(config: PumpConfig, basal: Basal, in_force: InForce | None) -> None:
    """The dose-change cap over 24 h: a new daily total (flex: the schedule's total) may be at
    most the larger of ``factor`` x the lowest total in force during the last 24 h and the
    highest one. Each step compared with the dose it replaces would let 200 -> 280 -> 390 ug/day
    through in two seconds; compared with the lowest of the day, walking up is refused, while
    returning to a dose in force within the day is always possible, as is any decrease.

    The label titrates by +10-30 % per 24 h (spinal origin; +5-15 % cerebral) and changes the
    dose at refill visits by up to +40 % (Lioresal intrathecal label [S], docs/domain.md). The
    factor stays the visit's 1.4 [M]: a visit is one programming after a day or more at one
    dose, so that dose is the window's lowest and the visit's +40 % must pass; a hard limit
    must never refuse what the label allows, and 1.4 is above the per-24 h titration too.
    Choosing within those steps is the clinician's; what the cap stops is a walk past them.
    A pump with nothing programmed has no cap (firmware_model/dose_window.py).
    """
    pct = config.max_dose_increase_pct
    if pct is None or in_force is None:
        return
    total = basal.dose_seconds_per_day()
    raised = in_force.lowest * (100 + pct)  # 100 times the cap's first term
    if total * 100 <= raised or total <= in_force.highest:
        return
    if raised >= in_force.highest * 100:
        limit = (
            f"{_ug_per_day(raised, 100, 'down')} ug/day ({(100 + pct) / 100:g} x "
            f"{_ug_per_day(in_force.lowest)}, the lowest"
        )
    else:
        limit = f"{_ug_per_day(in_force.highest, rounding='down')} ug/day (the highest"
    # Under 150 characters even with four-digit doses: the wire's text holds 160.
    refuse(
        Refusal.DOSE_CHANGE_LIMIT,
        f"daily dose {_ug_per_day(total, rounding='up')} ug/day above the limit {limit} in force "
        f"{_window(in_force)})",
    )


def _check_flex_starts(starts: list[int]) -> None:
    """Names the first step at fault, not the whole list: 24 starts would not fit the wire."""
    rule = f"flex step starts must increase strictly within 0..{S_PER_DAY - 1} s"
    for number, start in enumerate(starts, start=1):
        if not 0 <= start < S_PER_DAY:
            refuse(Refusal.OUT_OF_RANGE, f"{rule}: step {number} starts at {start} s")
        if number > 1 and start <= starts[number - 2]:
            refuse(
                Refusal.OUT_OF_RANGE,
                f"{rule}: step {number} starts at {start} s, step {number - 1} at "
                f"{starts[number - 2]} s",
            )


def _ug_per_day(
    dose_seconds: int, scale: int = 1, rounding: Literal["up", "down", "nearest"] = "nearest"
) -> str:
    """A daily total (ug/day times seconds, times ``scale``) as ug/day to 0.01. A refused dose
    is rounded up and its limit down, so the one shown is always above the other."""
    per = S_PER_DAY * scale
    if rounding == "up":
        hundredths = -(-dose_seconds * 100 // per)
    elif rounding == "down":
        hundredths = dose_seconds * 100 // per
    else:
        hundredths = (dose_seconds * 200 + per) // (2 * per)
    whole, rest = divmod(hundredths, 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".")


def _window(in_force: InForce) -> str:
    """Where the window starts: on the pump clock (UTC) when it was set, else in model time."""
    if in_force.since_clock_us is None:
        seconds = in_force.since_us // US_PER_S
        when = f"model time {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    else:
        instant = EPOCH + timedelta(microseconds=in_force.since_clock_us)
        when = instant.strftime("%Y-%m-%d %H:%M" if instant.second == 0 else "%Y-%m-%d %H:%M:%S")
        when += " UTC"
    if in_force.whole_day:
        return f"since {when}, 24 h ago"
    return f"since {when}, the pump's first programming"


def check_daily_total(
    basal: Basal | None, patient: PatientLimits | None, limits: DrugLimits
) -> None:
    """Basal plus every permitted patient bolus must stay within the daily hard limit."""
    if basal is None or patient is None:
        return
    patient_dose_s = patient.max_per_day * patient.dose_ug * S_PER_DAY
    if basal.dose_seconds_per_day() + patient_dose_s > limits.max_dose_ug_per_day * S_PER_DAY:
        refuse(
            Refusal.DRUG_LIMIT,
            f"basal plus {patient.max_per_day} patient boluses exceeds "
            f"{limits.max_dose_ug_per_day} ug/day",
        )


def check_bolus_dose(limits: DrugLimits, dose_ug: int, what: str) -> None:
    if not 0 < dose_ug <= limits.max_bolus_ug:
        refuse(
            Refusal.DRUG_LIMIT if dose_ug > 0 else Refusal.OUT_OF_RANGE,
            f"{what} {dose_ug} ug outside 1..{limits.max_bolus_ug} ug",
        )


def check_bolus_duration(config: PumpConfig, duration_us: int) -> None:
    low, high = config.min_bolus_duration_us, config.max_bolus_duration_us
    if not low <= duration_us <= high:
        refuse(
            Refusal.OUT_OF_RANGE,
            f"bolus duration {duration_us / US_PER_S:g} s outside "
            f"{low / US_PER_S:g}..{high / US_PER_S:g} s",
        )


def bolus_rate(config: PumpConfig, dose_ug: int, duration_us: int, concentration: int) -> int:
    """The rate that gives ``dose_ug`` over ``duration_us``, checked against the pump's range."""
    check_bolus_duration(config, duration_us)
    rate = rate_nl_per_day(volume_nl_for_dose(dose_ug, concentration), duration_us)
    check_rate(config, rate, f"{dose_ug} ug over {duration_us / US_PER_S:g} s")
    return rate


def check_patient_limits(
    config: PumpConfig,
    patient: PatientLimits,
    limits: DrugLimits,
    basal: Basal | None,
    concentration: int,
) -> None:
    """What every press of the patient's button will be checked against, checked now: a
    limit the pump would refuse at each press is refused when it is programmed."""
    check_bolus_dose(limits, patient.dose_ug, "patient bolus")
    check_bolus_duration(config, patient.duration_us)
    if not patient.duration_us <= patient.lockout_us <= MAX_PATIENT_LOCKOUT_US:
        refuse(
            Refusal.OUT_OF_RANGE,
            f"lockout {patient.lockout_us / US_PER_S:g} s outside "
            f"{patient.duration_us / US_PER_S:g}..{MAX_PATIENT_LOCKOUT_US // US_PER_S} s "
            "(at least the bolus, at most 24 h)",
        )
    if not 0 < patient.max_per_day <= MAX_PATIENT_BOLUSES_PER_DAY:
        refuse(
            Refusal.OUT_OF_RANGE,
            f"max per day {patient.max_per_day} outside 1..{MAX_PATIENT_BOLUSES_PER_DAY}",
        )
    check_daily_total(basal, patient, limits)
    if concentration:
        rate = bolus_rate(config, patient.dose_ug, patient.duration_us, concentration)
        doses = basal.doses if basal is not None else (0,)
        highest_basal = max((rate_for_dose(dose, concentration) for dose in doses), default=0)
        check_rate(config, highest_basal + rate, "basal plus patient bolus")


def low_reservoir_range_nl(config: PumpConfig) -> tuple[int, int]:
    """The low-reservoir alarm volume is programmable [S]: 1 mL to capacity - 1 mL [U]."""
    return max(NL_PER_ML, config.empty_nl + 1), config.reservoir_capacity_nl - NL_PER_ML


def check_low_reservoir(config: PumpConfig, volume_nl: int) -> None:
    low, high = low_reservoir_range_nl(config)
    if not low <= volume_nl <= high:
        refuse(
            Refusal.OUT_OF_RANGE,
            f"low-reservoir alarm {volume_nl} nL outside {low}..{high} nL",
        )


def check_prescription(
    config: PumpConfig,
    prescription: Prescription,
    concentration: int,
    limits: DrugLimits,
    in_force: InForce | None,
) -> None:
    """All of a programming transaction, checked together before any of it is applied.

    ``in_force``: the totals in force over the last 24 h (``DoseWindow.in_force``), for the
    dose-change cap; staging, commit and a refill's re-entered dose all pass through here."""
    if prescription.patient is not None:
        check_patient_limits(
            config, prescription.patient, limits, prescription.basal, concentration
        )
    check_basal(config, prescription.basal, concentration, limits, in_force, prescription.patient)
    check_low_reservoir(config, prescription.low_reservoir_nl)
