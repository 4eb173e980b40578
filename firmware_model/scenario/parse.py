"""From TOML to a checked ``Scenario``: every key known, every value in range, or an error.

A malformed scenario is refused before anything runs, with a message that names the line
(TOML syntax) or the key (``step 3 (at 45d): refill.volume_ml: ...``).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from firmware_model.alarms import Alarm
from firmware_model.config import ConfigProblem, ConfigRefused, PumpConfig
from firmware_model.prescription import Basal, Continuous, Flex, FlexStep
from firmware_model.scenario.durations import format_duration, parse_duration_us
from firmware_model.scenario.errors import ScenarioError
from firmware_model.scenario.spec import Scenario, Step
from firmware_model.units import (
    MILLI_C_PER_C,
    NL_PER_ML,
    PPB,
    PPM,
    US_PER_DAY,
    ml_to_nl,
)

DEFAULT_HORIZON_US = 20 * 366 * US_PER_DAY  # an end-of-service run stops here at the latest
MAX_REPEATS = 100_000
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")

Params = dict[str, Any]


def parse_scenario_text(text: str, source: str = "scenario") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"TOML syntax: {exc}") from None
    return parse_scenario(data)


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    _known_keys(data, {"title", "description", "pump", "step", "run"}, "top level")
    config = _pump_config(_table(data.get("pump", {}), "[pump]"))
    steps = _steps(data.get("step", []))
    run = _table(data.get("run", {}), "[run]")
    _known_keys(run, {"until", "horizon"}, "[run]")
    horizon_us = (
        parse_duration_us(run["horizon"], "run.horizon") if "horizon" in run else DEFAULT_HORIZON_US
    )
    last_us = steps[-1].at_us if steps else 0
    until = run.get("until")
    until_us: int | None
    if until == "end_of_service":
        until_us = None
    elif until is None:
        until_us = last_us
    else:
        until_us = parse_duration_us(until, "run.until")
        if until_us < last_us:
            raise ScenarioError(
                f"run.until: {until!r} comes before the last step at {format_duration(last_us)}"
            )
    return Scenario(config, steps, until_us, horizon_us)


# -- [pump] ----------------------------------------------------------------------------


def _pump_config(table: Mapping[str, Any]) -> PumpConfig:
    converters: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
        "reservoir_ml": ("reservoir_capacity_nl", _reservoir),
        "low_reservoir_alarm_ml": ("low_reservoir_nl", _volume_nl),
        "empty_ml": ("empty_nl", _volume_nl),
        "catheter_volume_ml": ("catheter_volume_nl", _volume_nl),
        "heat_coefficient_per_c": ("heat_coefficient_ppb_per_mc", _per_c_to_ppb_per_mc),
        "thermal_time_constant": ("thermal_time_constant_us", parse_duration_us),
        "max_dose_ug_per_day": ("max_dose_ug_per_day", _positive_int),
        "max_dose_increase_pct": ("max_dose_increase_pct", _pct_or_false),
        "over_infusion_window": ("over_infusion_window_us", parse_duration_us),
        "over_infusion_tolerance_pct": ("over_infusion_tolerance_ppb", _pct_to_ppb),
        "mri_recovery_delay": ("mri_recovery_delay_us", parse_duration_us),
        "battery_fraction": ("initial_battery_ppm", _fraction_to_ppm),
        "telemetry_session_cost": ("battery_us_per_session", parse_duration_us),
        "event_log_capacity": ("event_log_capacity", _positive_int),
        "link_log_capacity": ("link_log_capacity", _positive_int),
    }
    _known_keys(table, set(converters), "[pump]")
    values = {}
    for key, value in table.items():
        field_name, convert = converters[key]
        values[field_name] = convert(value, f"pump.{key}")
    try:
        return PumpConfig(**values)
    except ConfigRefused as refused:
        key_of = {field_name: key for key, (field_name, _) in converters.items()}
        named = [_name_keys(problem, table, key_of) for problem in refused.problems]
        raise ScenarioError("; ".join(named)) from None


def _reservoir(value: Any, key: str) -> int:
    if value not in (20, 40) or isinstance(value, bool):
        raise ScenarioError(f"{key}: the pump comes in 20 and 40 mL models, not {value!r}")
    return int(value) * NL_PER_ML


def _per_c_to_ppb_per_mc(value: Any, key: str) -> int:
    # k per °C is k * 10⁹ ppb per 1000 m°C, i.e. k * 10⁶ ppb/m°C.
    amount = _decimal_at_least(value, key, Decimal(0)) * PPM
    if amount != amount.to_integral_value():
        raise ScenarioError(f"{key}: at most 6 decimals, got {value!r}")
    return int(amount)


def _pct_to_ppb(value: Any, key: str) -> int:
    amount = _decimal_at_least(value, key, Decimal(0)) * (PPB // 100)
    if amount != amount.to_integral_value():
        raise ScenarioError(f"{key}: too many decimals in {value!r}")
    return int(amount)


def _pct_or_false(value: Any, key: str) -> int | None:
    if value is False:
        return None
    return _positive_int(value, key)


def _fraction_to_ppm(value: Any, key: str) -> int:
    amount = _decimal_at_least(value, key, Decimal(0))
    if amount > 1:
        raise ScenarioError(f"{key}: a fraction from 0 to 1, got {value!r}")
    return round(amount * PPM)


def _name_keys(problem: ConfigProblem, table: Mapping[str, Any], key_of: Mapping[str, str]) -> str:
    """A rule of PumpConfig broken, named by the first of its keys the table sets, with the
    others it was checked against, as written or at their default (docs/scenarios.md)."""
    keys = [key_of[field_name] for field_name in problem.fields if field_name in key_of]
    at_fault = next((key for key in keys if key in table), None)
    if at_fault is None:  # defaults are consistent, so a rule broken names a key set
        return f"[pump]: {problem.message}"
    others = [
        f"pump.{key} = {_as_written(table[key])}" if key in table else f"pump.{key} at its default"
        for key in keys
        if key != at_fault
    ]
    against = f" (with {', '.join(others)})" if others else ""
    return f"pump.{at_fault} = {_as_written(table[at_fault])}: {problem.message}{against}"


def _as_written(value: Any) -> str:
    """A TOML value as the file would write it: 19.5, "6h", false."""
    return json.dumps(value)


# -- [[step]] ----------------------------------------------------------------------------


def _steps(raw: Any) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise ScenarioError("step: use [[step]] tables")
    steps: list[Step] = []
    previous_at = 0
    for index, entry in enumerate(raw):
        table = _table(entry, f"step {index}")
        if "at" not in table:
            raise ScenarioError(f"step {index}: missing 'at'")
        at_us = parse_duration_us(table["at"], f"step {index}.at")
        where = f"step {index} (at {format_duration(at_us)})"
        if at_us < previous_at:
            raise ScenarioError(
                f"{where}: steps out of order; the step before is at {format_duration(previous_at)}"
            )
        previous_at = at_us
        actions = [key for key in table if key in ACTIONS]
        unknown = [key for key in table if key not in ACTIONS and key not in _STEP_KEYS]
        if unknown:
            raise ScenarioError(
                f"{where}: unknown key {unknown[0]!r}; actions are {', '.join(sorted(ACTIONS))}"
            )
        if len(actions) != 1:
            raise ScenarioError(f"{where}: needs exactly one action, found {actions or 'none'}")
        action = actions[0]
        params = ACTIONS[action](_table(table[action], f"{where}: {action}"), f"{where}: {action}")
        every_us, count = _repeat(table, where)
        for repeat in range(count):
            steps.append(Step(index, at_us + repeat * every_us, action, params))
    steps.sort(key=lambda step: step.at_us)  # stable: file order among equal times
    return tuple(steps)


_STEP_KEYS = {"at", "every", "count", "note"}


def _repeat(table: Mapping[str, Any], where: str) -> tuple[int, int]:
    if "every" not in table and "count" not in table:
        return 0, 1
    if "every" not in table or "count" not in table:
        raise ScenarioError(f"{where}: 'every' and 'count' go together")
    every_us = parse_duration_us(table["every"], f"{where}: every")
    count = _positive_int(table["count"], f"{where}: count")
    if every_us == 0 or count > MAX_REPEATS:
        raise ScenarioError(f"{where}: every must be positive and count at most {MAX_REPEATS}")
    return every_us, count


def _refill(t: Mapping[str, Any], key: str) -> Params:
    _known_keys(
        t,
        {
            "volume_ml",
            "concentration_ug_per_ml",
            "drug",
            "measured_ml",
            "dose_ug_per_day",
            "program",
        },
        key,
        required={"volume_ml", "concentration_ug_per_ml"},
    )
    params: Params = {
        "volume_nl": _volume_nl(t["volume_ml"], f"{key}.volume_ml", positive=True),
        "concentration_ug_per_ml": _positive_int(
            t["concentration_ug_per_ml"], f"{key}.concentration_ug_per_ml"
        ),
        "drug": _string(t.get("drug", "baclofen"), f"{key}.drug"),
        "measured_nl": None
        if "measured_ml" not in t
        else _volume_nl(t["measured_ml"], f"{key}.measured_ml"),
        "basal": None,
    }
    if "dose_ug_per_day" in t and "program" in t:
        raise ScenarioError(f"{key}: give dose_ug_per_day or program, not both")
    if "dose_ug_per_day" in t:
        params["basal"] = Continuous(
            _non_negative_int(t["dose_ug_per_day"], f"{key}.dose_ug_per_day")
        )
    elif "program" in t:
        program_table = _table(t["program"], f"{key}.program")
        program = _program(program_table, f"{key}.program")
        if "basal" not in program:
            raise ScenarioError(f"{key}.program: a refill re-enters a continuous or flex dose")
        if "start" in program_table:
            raise ScenarioError(f"{key}.program.start: a refill keeps the pump's state")
        params["basal"] = program["basal"]
    return params


def _program(t: Mapping[str, Any], key: str) -> Params:
    mode = t.get("mode")
    if mode == "continuous":
        _known_keys(t, {"mode", "dose_ug_per_day", "start"}, key, required={"dose_ug_per_day"})
        dose = _non_negative_int(t["dose_ug_per_day"], f"{key}.dose_ug_per_day")
        return {"basal": Continuous(dose), "start": _start(t, key)}
    if mode == "flex":
        _known_keys(t, {"mode", "steps", "start"}, key, required={"steps"})
        return {"basal": _flex(t["steps"], f"{key}.steps"), "start": _start(t, key)}
    if mode == "stopped":
        _known_keys(t, {"mode", "confirm"}, key)
        confirm = t.get("confirm", False)
        if not isinstance(confirm, bool):
            raise ScenarioError(f"{key}.confirm: true or false, got {confirm!r}")
        return {"stop": True, "confirm": confirm}
    raise ScenarioError(f"{key}.mode: one of continuous, flex, stopped; got {mode!r}")


def _start(t: Mapping[str, Any], key: str) -> bool:
    """Whether programming a stopped pump starts it; true by default, as scenarios always did."""
    start = t.get("start", True)
    if not isinstance(start, bool):
        raise ScenarioError(f"{key}.start: true or false, got {start!r}")
    return start


def _flex(raw: Any, key: str) -> Basal:
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"{key}: a list of {{start, dose_ug_per_day}} tables")
    steps = []
    for number, entry in enumerate(raw):
        where = f"{key}[{number}]"
        table = _table(entry, where)
        _known_keys(
            table, {"start", "dose_ug_per_day"}, where, required={"start", "dose_ug_per_day"}
        )
        start = table["start"]
        match = _TIME_OF_DAY.match(start) if isinstance(start, str) else None
        if match is None:
            raise ScenarioError(f'{where}.start: a time of day like "08:00", got {start!r}')
        hours, minutes, seconds = (int(part or 0) for part in match.groups())
        dose = _non_negative_int(table["dose_ug_per_day"], f"{where}.dose_ug_per_day")
        steps.append(FlexStep(hours * 3600 + minutes * 60 + seconds, dose))
    starts = [step.start_s for step in steps]
    if starts != sorted(set(starts)):
        raise ScenarioError(f"{key}: step start times must increase through the day")
    return Flex(tuple(steps))


def _bolus(t: Mapping[str, Any], key: str) -> Params:
    _known_keys(t, {"dose_ug", "duration"}, key, required={"dose_ug", "duration"})
    return {
        "dose_ug": _non_negative_int(t["dose_ug"], f"{key}.dose_ug"),
        "duration_us": parse_duration_us(t["duration"], f"{key}.duration"),
    }


def _patient_limits(t: Mapping[str, Any], key: str) -> Params:
    _known_keys(
        t,
        {"dose_ug", "duration", "lockout", "max_per_day"},
        key,
        required={"dose_ug", "duration", "lockout", "max_per_day"},
    )
    return {
        "dose_ug": _non_negative_int(t["dose_ug"], f"{key}.dose_ug"),
        "duration_us": parse_duration_us(t["duration"], f"{key}.duration"),
        "lockout_us": parse_duration_us(t["lockout"], f"{key}.lockout"),
        "max_per_day": _non_negative_int(t["max_per_day"], f"{key}.max_per_day"),
    }


def _nothing(t: Mapping[str, Any], key: str) -> Params:
    _known_keys(t, set(), key)
    return {}


def _temperature(t: Mapping[str, Any], key: str) -> Params:
    _known_keys(t, {"celsius", "duration"}, key, required={"celsius", "duration"})
    celsius = _decimal_at_least(t["celsius"], f"{key}.celsius", Decimal(-273))
    return {
        "temperature_mc": round(celsius * MILLI_C_PER_C),
        "duration_us": _positive_duration(t["duration"], f"{key}.duration"),
    }


def _duration_only(t: Mapping[str, Any], key: str) -> Params:
    _known_keys(t, {"duration"}, key, required={"duration"})
    return {"duration_us": _positive_duration(t["duration"], f"{key}.duration")}


def _acknowledge(t: Mapping[str, Any], key: str) -> Params:
    _known_keys(t, {"alarm"}, key, required={"alarm"})
    names = {alarm.value: alarm for alarm in Alarm}
    if t["alarm"] not in names:
        raise ScenarioError(f"{key}.alarm: one of {', '.join(names)}; got {t['alarm']!r}")
    return {"alarm": names[t["alarm"]]}


def _prime(t: Mapping[str, Any], key: str) -> Params:
    _known_keys(t, {"volume_ml"}, key)
    volume = t.get("volume_ml")
    return {
        "volume_nl": None
        if volume is None
        else _volume_nl(volume, f"{key}.volume_ml", positive=True)
    }


def _low_reservoir_alarm(t: Mapping[str, Any], key: str) -> Params:
    _known_keys(t, {"volume_ml"}, key, required={"volume_ml"})
    return {"volume_nl": _volume_nl(t["volume_ml"], f"{key}.volume_ml", positive=True)}


ACTIONS: dict[str, Callable[[Mapping[str, Any], str], Params]] = {
    "refill": _refill,
    "program": _program,
    "start": _nothing,
    "bolus": _bolus,
    "prime": _prime,
    "patient_limits": _patient_limits,
    "patient_bolus": _nothing,
    "temperature": _temperature,
    "mri": _duration_only,
    "occlusion": _duration_only,
    "acknowledge": _acknowledge,
    "interrogate": _nothing,
    "low_reservoir_alarm": _low_reservoir_alarm,
}


# -- values ------------------------------------------------------------------------------


def _known_keys(
    table: Mapping[str, Any], allowed: set[str], where: str, required: set[str] | None = None
) -> None:
    for key in table:
        if key not in allowed:
            hint = f"; expected {', '.join(sorted(allowed))}" if allowed else "; takes no keys"
            raise ScenarioError(f"{where}: unknown key {key!r}{hint}")
    for key in sorted(required or ()):
        if key not in table:
            raise ScenarioError(f"{where}: missing {key!r}")


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a table, got {value!r}")
    return value


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{key}: expected a name, got {value!r}")
    return value


def _decimal_at_least(value: Any, key: str, minimum: Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{key}: expected a number, got {value!r}")
    amount = Decimal(str(value))
    if not amount.is_finite():
        raise ScenarioError(f"{key}: expected a finite number, got {value!r}")
    if amount < minimum:
        limit = "cannot be negative" if minimum == 0 else f"must be at least {minimum}"
        raise ScenarioError(f"{key}: {limit}, got {value!r}")
    return amount


def _non_negative_int(value: Any, key: str) -> int:
    amount = _decimal_at_least(value, key, Decimal(0))
    if amount != amount.to_integral_value():
        raise ScenarioError(f"{key}: expected a whole number, got {value!r}")
    return int(amount)


def _positive_int(value: Any, key: str) -> int:
    amount = _non_negative_int(value, key)
    if amount == 0:
        raise ScenarioError(f"{key}: must be positive, got {value!r}")
    return amount


def _volume_nl(value: Any, key: str, positive: bool = False) -> int:
    amount = _decimal_at_least(value, key, Decimal(0))
    if positive and amount == 0:
        raise ScenarioError(f"{key}: must be positive, got {value!r}")
    nl = ml_to_nl(amount)
    if Decimal(nl) != amount * NL_PER_ML:
        raise ScenarioError(f"{key}: finer than a nanolitre: {value!r}")
    return nl


def _positive_duration(value: Any, key: str) -> int:
    us = parse_duration_us(value, key)
    if us == 0:
        raise ScenarioError(f"{key}: must be longer than zero")
    return us
