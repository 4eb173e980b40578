"""The control channel's verbs: one JSON request in, one JSON reply out, never an exception.

Every argument is range-checked here, before the rig is touched, and every failure is an
error object with a code and a one-line message (docs/control.md): a test rig's mistake
must never stop the emulator or change the pump.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from emulator.presets import DEFAULT_PRESET, PRESETS
from emulator.rig import FaultSettings, NotSaved, Rig
from emulator.state_file import StateFileError
from firmware_model import Pump, PumpRefusal
from firmware_model.persistence import StateFormatError
from firmware_model.pump import MAX_CLOCK_S, MIN_CLOCK_S
from firmware_model.scenario import ScenarioError
from firmware_model.scenario.durations import parse_duration_us
from firmware_model.units import PPM, US_PER_DAY
from transport import NoiseModel

log = logging.getLogger(__name__)

MAX_ADVANCE_US = 3653 * US_PER_DAY  # 10 years, leap days included
MAX_LINK_ADVANCE_US = 7 * US_PER_DAY
MAX_ENVIRONMENT_US = 365 * US_PER_DAY
MIN_TEMPERATURE_C = 30.0  # the range a pump body meets: fever, sauna, heating pad
MAX_TEMPERATURE_C = 45.0
MAX_SPEED = 1e9
MAX_DELAY_S = 60.0
MIN_BAUD = 300
MAX_BAUD = 4_000_000


class VerbError(Exception):
    """A request the rig refuses: ``code`` is what the error object carries."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Handler = Callable[[Rig, "Args"], dict[str, Any]]


class Args:
    """A request's ``args`` object, read with checks that name the argument."""

    def __init__(self, verb: str, raw: object) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise VerbError("bad_request", f"{verb}: args must be an object")
        self.verb = verb
        self.raw: dict[str, Any] = raw
        self._used: set[str] = set()

    def _get(self, name: str, required: bool) -> Any:
        self._used.add(name)
        if name not in self.raw or self.raw[name] is None:
            if required:
                raise VerbError("missing_argument", f"{self.verb}: {name} is required")
            return None
        return self.raw[name]

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self._used)
        if unknown:
            raise VerbError("unknown_argument", f"{self.verb}: unknown {', '.join(unknown)}")

    def duration_us(self, name: str, max_us: int, *, required: bool = True) -> int:
        value = self._get(name, required)
        if value is None:
            return 0
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)  # a bare number is seconds, as in scenarios
        try:
            us = parse_duration_us(value, name)
        except ScenarioError as exc:
            raise VerbError("bad_value", f"{self.verb}: {exc}") from None
        if us <= 0:
            raise VerbError("out_of_range", f"{self.verb}: {name} must be more than 0")
        if us > max_us:
            raise VerbError(
                "out_of_range",
                f"{self.verb}: {name} {value!r} is more than {_days(max_us)}",
            )
        return us

    def number(self, name: str, low: float, high: float, *, required: bool = True) -> float | None:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise VerbError(
                    "bad_value", f"{self.verb}: {name} {value!r} is not a number"
                ) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise VerbError("bad_value", f"{self.verb}: {name} must be a number")
        return in_range(f"{self.verb}: {name}", value, low, high)

    def integer(self, name: str, low: int, high: int, *, required: bool = True) -> int | None:
        value = self.number(name, low, high, required=required)
        if value is None:
            return None
        if value != int(value):
            raise VerbError("bad_value", f"{self.verb}: {name} must be a whole number")
        return int(value)

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = self._get(name, required)
        if value is not None and not isinstance(value, str):
            raise VerbError("bad_value", f"{self.verb}: {name} must be a string")
        return value

    def flag(self, name: str) -> bool:
        value = self._get(name, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise VerbError("bad_value", f"{self.verb}: {name} must be true or false")
        return value

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self._get(name, False)
        if value is not None and not isinstance(value, dict):
            raise VerbError("bad_value", f"{self.verb}: {name} must be an object")
        return value


def in_range(what: str, value: float, low: float, high: float) -> float:
    """``value`` as a float when finite and within ``low..high`` (-0.0 made 0.0); an
    out_of_range VerbError otherwise, however large the number (a 400-digit integer too)."""
    inside = (
        low <= value <= high
        if isinstance(value, int)
        else math.isfinite(value) and (low <= value <= high)
    )
    if not inside:
        text = str(value) if isinstance(value, int) else f"{value:g}"
        if len(text) > 24:
            text = f"{text[:12]}... ({len(text)} digits)"
        raise VerbError("out_of_range", f"{what} {text} outside {_n(low)}..{_n(high)}")
    return float(value) + 0.0


def _n(bound: float) -> str:
    """A range's end as people read it: 4102444799, not 4.10244e+09."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _days(us: int) -> str:
    days = us / US_PER_DAY
    return f"{days:g} days" if days >= 1 else f"{us / 1e6:g} s"


# -- the verbs ---------------------------------------------------------------------------


def _state(rig: Rig, args: Args) -> dict[str, Any]:
    args.done()
    return rig.state()


def _advance(rig: Rig, args: Args) -> dict[str, Any]:
    duration_us = args.duration_us("duration", MAX_ADVANCE_US)
    args.done()
    return rig.advance(duration_us)


def _link_advance(rig: Rig, args: Args) -> dict[str, Any]:
    duration_us = args.duration_us("duration", MAX_LINK_ADVANCE_US)
    args.done()
    return rig.link_advance(duration_us)


def _speed(rig: Rig, args: Args) -> dict[str, Any]:
    factor = args.number("factor", 0.0, MAX_SPEED)
    args.done()
    assert factor is not None
    return rig.set_speed(factor)


def _temperature(rig: Rig, args: Args) -> dict[str, Any]:
    celsius = args.number("celsius", MIN_TEMPERATURE_C, MAX_TEMPERATURE_C)
    duration_us = args.duration_us("duration", MAX_ENVIRONMENT_US)
    args.done()
    assert celsius is not None
    millis = round(celsius * 1_000)
    return rig.environment(lambda pump: pump.expose_temperature(millis, duration_us))


def _mri(rig: Rig, args: Args) -> dict[str, Any]:
    duration_us = args.duration_us("duration", MAX_ENVIRONMENT_US)
    args.done()
    return rig.environment(lambda pump: pump.mri(duration_us))


def _occlusion(rig: Rig, args: Args) -> dict[str, Any]:
    duration_us = args.duration_us("duration", MAX_ENVIRONMENT_US)
    args.done()
    return rig.environment(lambda pump: pump.occlude(duration_us))


def _battery(rig: Rig, args: Args) -> dict[str, Any]:
    fraction = args.number("fraction", 0.0, 1.0)
    args.done()
    assert fraction is not None
    ppm = round(fraction * PPM)

    def drain(pump: Pump) -> None:
        pump.drain_battery(ppm)

    return rig.environment(drain)


def _noise(args: Args, name: str, default: dict[str, Any]) -> NoiseModel | None:
    rates = args.mapping(name)
    merged = {**default, **(rates or {})}
    unknown = set(merged) - {"flip", "drop", "duplicate"}
    if unknown:
        raise VerbError(
            "unknown_argument", f"faults: {name} has unknown {', '.join(sorted(unknown))}"
        )
    values: dict[str, float] = {}
    for key in ("flip", "drop", "duplicate"):
        value = merged.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise VerbError("bad_value", f"faults: {name}.{key} must be a number")
        values[key] = in_range(f"faults: {name}.{key}", value, 0.0, 1.0)
    if not any(values.values()):
        return None
    return NoiseModel(**values)


def _faults(rig: Rig, args: Args) -> dict[str, Any]:
    if args.flag("off"):
        args.done()
        return rig.faults_off()
    both = args.mapping("both") or {}
    settings = FaultSettings(
        to_pump=_noise(args, "to_pump", both),
        to_programmer=_noise(args, "to_programmer", both),
        delay_s=args.number("delay_s", 0.0, MAX_DELAY_S, required=False) or 0.0,
        baud=args.integer("baud", MIN_BAUD, MAX_BAUD, required=False),
    )
    args.done()
    return rig.set_faults(settings)


def _reset(rig: Rig, args: Args) -> dict[str, Any]:
    preset = args.text("preset", required=False) or DEFAULT_PRESET
    clock_s = args.integer("clock_s", MIN_CLOCK_S, MAX_CLOCK_S, required=False)
    args.done()
    if preset not in PRESETS:
        raise VerbError("bad_value", f"reset: no preset {preset!r}; presets: {', '.join(PRESETS)}")
    return rig.reset(preset, clock_s)


def _fail_next(rig: Rig, args: Args) -> dict[str, Any]:
    count = args.integer("count", 0, 100, required=False)
    args.done()
    return rig.fail_next(1 if count is None else count)


def _snapshot(rig: Rig, args: Args) -> dict[str, Any]:
    args.done()
    return rig.snapshot()


def _restore(rig: Rig, args: Args) -> dict[str, Any]:
    snapshot = args.mapping("snapshot")
    args.done()
    if snapshot is None:
        raise VerbError("missing_argument", "restore: snapshot is required")
    return rig.restore(snapshot)


def _presets(rig: Rig, args: Args) -> dict[str, Any]:
    args.done()
    return {"presets": {name: preset.meaning for name, preset in PRESETS.items()}}


VERBS: Mapping[str, Handler] = {
    "state": _state,
    "advance": _advance,
    "link-advance": _link_advance,
    "speed": _speed,
    "temperature": _temperature,
    "mri": _mri,
    "occlusion": _occlusion,
    "battery": _battery,
    "faults": _faults,
    "reset": _reset,
    "presets": _presets,
    "fail-next": _fail_next,
    "snapshot": _snapshot,
    "restore": _restore,
}


def handle(rig: Rig, request: object) -> dict[str, Any]:
    """The reply object for one request object; never raises."""
    request_id = request.get("id") if isinstance(request, dict) else None
    try:
        if not isinstance(request, dict):
            raise VerbError("bad_request", "a request is a JSON object")
        verb = request.get("verb")
        if not isinstance(verb, str):
            raise VerbError("bad_request", "a request names its verb")
        handler = VERBS.get(verb)
        if handler is None:
            raise VerbError("unknown_verb", f"no verb {verb!r}; verbs: {', '.join(VERBS)}")
        result = handler(rig, Args(verb, request.get("args")))
    except VerbError as exc:
        return _error(request_id, exc.code, exc.message)
    except PumpRefusal as refusal:
        return _error(request_id, "refused", f"the pump refused: {refusal.message}")
    except NotSaved as exc:
        return _error(request_id, "not_saved", str(exc))
    except StateFileError as exc:  # nothing changed: the pump is replaced only once saved
        return _error(request_id, "not_saved", f"not done, the state file failed: {exc}")
    except (ValueError, KeyError, StateFormatError, RuntimeError) as exc:
        return _error(request_id, "refused", str(exc).strip("'\""))
    except Exception as exc:  # a bug: said, logged, and the emulator goes on
        log.exception("control request %r failed", request)
        return _error(request_id, "internal_error", f"{type(exc).__name__}: {exc}")
    return {"id": request_id, "ok": True, "result": result}


def _error(request_id: object, code: str, message: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message}}
