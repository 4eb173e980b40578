"""Safety interlocks: the checks a request must pass before it may change anything.

Each check raises ``PumpRefusal`` with the reason and a one-line message; none changes
state. Sources: the drug library's hard limits (Lioresal label [S]), the titration limit
per transaction, the pump's rate range [U], confirmation to stop (boxed warning [S]).
"""

from __future__ import annotations

from typing import NoReturn

from firmware_model.config import PumpConfig
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


def refuse(reason: Refusal, message: str) -> NoReturn:
    raise PumpRefusal(reason, message)


def rate_for_dose(dose_ug_per_day: int, concentration_ug_per_ml: int) -> int:
    """Flow in nL/day for a daily dose: rate = dose / concentration (domain.md [S]).

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


def check_rate(config: PumpConfig, rate: int, needs: str) -> None:
    low, high = config.min_rate_nl_per_day, config.max_rate_nl_per_day
    if not low <= rate <= high:
        refuse(
            Refusal.OUT_OF_RANGE,
            f"{needs} needs {rate / 1000:g} uL/day, "
            f"outside the pump's {low / 1000:g}..{high / 1000:g} uL/day",
        )


def check_basal(
    config: PumpConfig,
    basal: Basal,
    concentration: int,
    limits: DrugLimits,
    current: Basal | None,
    patient: PatientLimits | None,
) -> None:
    if isinstance(basal, Flex):
        starts = [step.start_s for step in basal.steps]
        if not 0 < len(starts) <= MAX_FLEX_STEPS:
            refuse(
                Refusal.OUT_OF_RANGE, f"flex has {len(starts)} steps, outside 1..{MAX_FLEX_STEPS}"
            )
        if starts != sorted(set(starts)) or starts[0] < 0 or starts[-1] >= S_PER_DAY:
            refuse(
                Refusal.OUT_OF_RANGE,
                f"flex step starts must increase strictly within 0..{S_PER_DAY - 1} s: {starts}",
            )
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
    pct = config.max_dose_increase_pct
    if pct is not None and current is not None:
        old, new = current.dose_seconds_per_day(), basal.dose_seconds_per_day()
        if new * 100 > old * (100 + pct):
            refuse(
                Refusal.DOSE_CHANGE_LIMIT,
                f"daily dose up {100 * (new - old) / old:.0f} %, more than {pct} % at once",
            )
    check_daily_total(basal, patient, limits)


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
    current: Basal | None,
) -> None:
    """All of a programming transaction, checked together before any of it is applied."""
    if prescription.patient is not None:
        check_patient_limits(
            config, prescription.patient, limits, prescription.basal, concentration
        )
    check_basal(config, prescription.basal, concentration, limits, current, prescription.patient)
    check_low_reservoir(config, prescription.low_reservoir_nl)
