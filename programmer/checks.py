"""What the pump would refuse, said first and in the clinician's units.

The pump reports its limits, signed (``GET_LIMITS``); a value outside them is refused here,
before anything is staged or sent, with the exit code the pump's own refusal would give (1)
and a message in mL, ug and minutes rather than the wire's nanolitres. The pump checks
everything again: this is for people, not for safety.
"""

from __future__ import annotations

from collections.abc import Sequence

from firmware_model.units import spoken_duration
from programmer.errors import OutsideLimits
from protocol import DrugEntry, LimitsReply

duration = spoken_duration  # "2 h 59 min 1 s": the pump's refusals and ours say time alike
U32_MAX = 0xFFFF_FFFF
NL_PER_ML = 1_000_000
NL_PER_UL = 1_000


def ml(nl: int) -> str:
    """Nanolitres as mL, as precise as needed and no more: 19 mL, 0.5 mL, 0.048 mL."""
    return f"{nl / NL_PER_ML:.6f}".rstrip("0").rstrip(".") + " mL"


def ml3(nl: int, sign: bool = False) -> str:
    """Nanolitres as mL to the whole microlitre, cut as the pump's status cuts them (never
    rounded up), so a screen's figures and the pump's agree: 7.999 mL, never 8.000."""
    whole_ul = abs(nl) // 1_000
    text = f"{whole_ul // 1_000}.{whole_ul % 1_000:03d} mL"
    if nl < 0 and whole_ul:
        return "-" + text
    return ("+" + text) if sign and whole_ul else text


def drug_entry(limits: LimitsReply, name: str) -> DrugEntry:
    for entry in limits.drugs:
        if entry.name == name:
            return entry
    names = ", ".join(d.name for d in limits.drugs)
    raise OutsideLimits(f"{name!r} is not in the pump's drug library ({names})")


def reservoir(limits: LimitsReply) -> str:
    return f"{limits.reservoir_capacity_ul // 1000} mL reservoir"


def check_low_reservoir(limits: LimitsReply, volume_nl: int) -> None:
    low, high = limits.low_reservoir_min_ul * NL_PER_UL, limits.low_reservoir_max_ul * NL_PER_UL
    if volume_nl > high:
        raise OutsideLimits(
            f"{ml(volume_nl)} is above the {ml(high)} maximum for a {reservoir(limits)}"
        )
    if volume_nl < low:
        raise OutsideLimits(f"{ml(volume_nl)} is below the {ml(low)} minimum")


def check_rate(limits: LimitsReply, rate_nl_per_day: int, what: str) -> None:
    low, high = limits.min_rate_nl_per_day, limits.max_rate_nl_per_day
    if not low <= rate_nl_per_day <= high:
        raise OutsideLimits(
            f"{what} needs {ml(rate_nl_per_day)}/day; the pump delivers "
            f"{ml(low)}/day to {ml(high)}/day"
        )


def rate_nl_per_day(dose_ug: int, concentration: int, per_day: float = 1.0) -> int:
    return round(dose_ug * NL_PER_ML * per_day / concentration) if concentration else 0


def check_doses(limits: LimitsReply, drug: str, doses: list[int], concentration: int) -> None:
    entry = drug_entry(limits, drug)
    for dose in doses:
        if dose <= 0:
            raise OutsideLimits(f"a dose of {dose} ug/day: a basal dose must be above 0")
        if dose > entry.max_dose_ug_per_day:
            raise OutsideLimits(
                f"{dose} ug/day is above {entry.name}'s {entry.max_dose_ug_per_day} ug/day limit"
            )
        if concentration:
            check_rate(
                limits,
                rate_nl_per_day(dose, concentration),
                f"{dose} ug/day at {concentration} ug/mL",
            )


def check_bolus(
    limits: LimitsReply,
    drug: str,
    dose_ug: int,
    duration_s: int,
    concentration: int,
    on_top_nl_per_day: int = 0,
) -> None:
    """``on_top_nl_per_day``: a basal the bolus runs on top of (a patient bolus does; a
    clinician bolus replaces the basal)."""
    entry = drug_entry(limits, drug)
    if not 0 < dose_ug <= entry.max_bolus_ug:
        raise OutsideLimits(
            f"a bolus of {dose_ug} ug is outside {entry.name}'s 1 to {entry.max_bolus_ug} ug"
        )
    check_duration(limits, duration_s)
    if not concentration:
        return
    rate = rate_nl_per_day(dose_ug, concentration, 86_400 / duration_s) + on_top_nl_per_day
    what = f"{dose_ug} ug over {duration(duration_s)}"
    if on_top_nl_per_day:
        what += f" on top of a basal of up to {ml(on_top_nl_per_day)}/day"
    if rate > limits.max_rate_nl_per_day:
        shortest = shortest_bolus_s(limits, dose_ug, concentration, on_top_nl_per_day)
        if shortest is None:
            raise OutsideLimits(
                f"{what}: the basal alone leaves the pump no room for a bolus "
                f"(at most {ml(limits.max_rate_nl_per_day)}/day)"
            )
        raise OutsideLimits(
            f"{what} needs {ml(rate)}/day, above the pump's "
            f"{ml(limits.max_rate_nl_per_day)}/day: give it over at least "
            f"{duration(shortest)} (--duration-s {shortest})"
        )
    check_rate(limits, rate, what)


def shortest_bolus_s(
    limits: LimitsReply, dose_ug: int, concentration: int, on_top_nl_per_day: int = 0
) -> int | None:
    """The shortest whole-second duration at which the pump can deliver the dose, on top of
    ``on_top_nl_per_day``; None when the basal leaves no room at all."""
    room = limits.max_rate_nl_per_day - on_top_nl_per_day
    if room <= 0:
        return None
    volume_nl = dose_ug * NL_PER_ML
    seconds = max(limits.min_bolus_duration_s, -(-volume_nl * 86_400 // (concentration * room)))
    while (
        rate_nl_per_day(dose_ug, concentration, 86_400 / seconds) + on_top_nl_per_day
        > limits.max_rate_nl_per_day
    ):
        seconds += 1  # float rounding at the edge: the next second is within the limit
    return seconds


def check_duration(limits: LimitsReply, duration_s: int) -> None:
    low, high = limits.min_bolus_duration_s, limits.max_bolus_duration_s
    if not low <= duration_s <= high:
        raise OutsideLimits(
            f"a bolus over {duration(duration_s)} is outside the pump's "
            f"{duration(low)} to {duration(high)}"
        )


def check_prime(limits: LimitsReply, volume_nl: int | None) -> None:
    if volume_nl is None:
        return
    if volume_nl <= 0:
        raise OutsideLimits(
            f"a priming volume of {ml(volume_nl)}: it must be above 0 mL (leave --volume-ml "
            f"out to prime the catheter's {ml(limits.catheter_volume_nl)})"
        )
    if volume_nl > limits.max_prime_nl:
        raise OutsideLimits(
            f"{ml(volume_nl)} is above the {ml(limits.max_prime_nl)} priming maximum"
        )


def check_refill(
    limits: LimitsReply,
    volume_nl: int,
    concentration: int,
    measured_nl: int | None,
    drug: str,
) -> None:
    capacity = limits.reservoir_capacity_ul * NL_PER_UL
    entry = drug_entry(limits, drug)
    if not 0 < volume_nl <= capacity:
        raise OutsideLimits(
            f"a refill of {ml(volume_nl)}: it must be more than 0 mL and at most "
            f"{ml(capacity)} (a {reservoir(limits)})"
        )
    low, high = entry.min_concentration_ug_per_ml, entry.max_concentration_ug_per_ml
    if not low <= concentration <= high:
        raise OutsideLimits(
            f"{concentration} ug/mL is outside {entry.name}'s {low} to {high} ug/mL"
        )
    if measured_nl is not None and measured_nl < 0:
        raise OutsideLimits(f"a measured residual of {ml(measured_nl)}: it cannot be below 0 mL")
    if measured_nl is not None and measured_nl > capacity:
        raise OutsideLimits(
            f"a measured residual of {ml(measured_nl)} is more than a {reservoir(limits)} holds"
        )


def check_patient_limits(
    limits: LimitsReply,
    drug: str,
    dose_ug: int,
    duration_s: int,
    lockout_s: int,
    max_per_day: int,
    concentration: int,
    basal_doses: Sequence[int] = (),
) -> None:
    """``basal_doses``: the basal's steps, ug/day; a patient bolus runs on top of any."""
    highest = max(basal_doses, default=0)
    on_top = rate_nl_per_day(highest, concentration) if highest else 0
    check_bolus(limits, drug, dose_ug, duration_s, concentration, on_top)
    if not duration_s <= lockout_s <= 86_400:
        raise OutsideLimits(
            f"a lockout of {duration(lockout_s)} is outside {duration(duration_s)} (the bolus) "
            "to 24 h"
        )
    if not 1 <= max_per_day <= limits.max_patient_boluses_per_day:
        raise OutsideLimits(
            f"{max_per_day} patient boluses a day is outside 1 to "
            f"{limits.max_patient_boluses_per_day}"
        )


def check_clock(limits: LimitsReply, clock_s: int) -> None:
    if not limits.min_clock_s <= clock_s <= limits.max_clock_s:
        raise OutsideLimits(
            f"clock {clock_s} s is outside {limits.min_clock_s} to {limits.max_clock_s} s "
            "(2000-01-01 to 2099-12-31 UTC)"
        )


def check_u32(value: int, what: str) -> None:
    if not 0 <= value <= U32_MAX:
        raise OutsideLimits(f"{what} {value} is not something the pump can be sent")
