"""The whole pump state as versioned plain data (JSON-ready), and back, exactly.

Everything is integers, strings, booleans, lists and dicts, and the few floats of a heat lag
(a deviation in m°C, which ``json.dumps`` writes in the shortest form that reads back to the
same double), so it round-trips unchanged; a pump restored from it behaves, microsecond for
microsecond, as the original. Derived values (flow, next event) are recomputed on load rather
than stored, from the start of the saved segment, as the original computed them.

Version 2 keeps the event log as two rings, clinical and link, in one index space. Version 3
keeps the pump body's temperature as a first-order lag (heat.py), the over-infusion window's
pieces as flows that may carry that lag, the segment being integrated, whether an MRI scan
is under way, and the daily totals in force over the last 24 h (the dose-change cap's
window, dose_window.py). Older states are migrated on load, one version at a time.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from firmware_model import state_machine as sm
from firmware_model.alarms import ActiveAlarm, Alarm
from firmware_model.config import PumpConfig
from firmware_model.dose_window import DoseWindow
from firmware_model.drug_library import DrugLimits
from firmware_model.event_log import EventLog, LogEntry
from firmware_model.flow import Flow
from firmware_model.heat import Lag, settle_bound_mc
from firmware_model.log_kinds import CLINICAL, LINK, LogClass, class_of
from firmware_model.prescription import Basal, Continuous, Flex, FlexStep, PatientLimits
from firmware_model.pump import BolusInfo, Pump

FORMAT = "itb-pump-state"
VERSION = 3


class StateFormatError(ValueError):
    """Saved state of another format or version, or damaged."""


def to_plain(pump: Pump) -> dict[str, Any]:
    p = pump
    window = p._window
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": _config_to_plain(p.config),
        "t_us": p._t,
        "state": p._fsm.state,
        "basal_on": p._fsm.basal_on,
        "reservoir": {
            "volume_q": p._volume_q,
            "concentration_ug_per_ml": p._concentration,
            "drug": p._drug,
            "filled_q": p._filled_q,
            "withdrawn_q": p._withdrawn_q,
            "pumped_q": p._pumped_q,
            "low_q": p._low_q,
            "empty_q": p._empty_q,
        },
        "catheter": [list(segment) for segment in p._catheter.segments],
        "infused_pgq": p._infused_pgq,
        "basal": _basal_to_plain(p._basal),
        "basal_rate_nl_per_day": p._basal_rate,
        "dose_window": p._doses.to_plain(),
        "bolus": {
            "rate_nl_per_day": p._bolus_rate,
            "kind": p._bolus_kind,
            "last": list(dataclasses.astuple(p._bolus_info)),
            "last_patient": list(dataclasses.astuple(p._patient_info)),
        },
        "patient": {
            "limits": None if p._limits is None else dataclasses.asdict(p._limits),
            "rate_nl_per_day": p._patient_rate,
            "starts_us": list(p._patient_starts),
        },
        "clock_offset_us": p._clock_offset_us,
        "thermal": {
            "target_mc": p._lag.target_mc,
            "deviation_mc": p._lag.deviation_mc,
            "since_us": p._lag.since_us,
        },
        "blocked": dict(p._blocked),
        "await_interrogation": p._fsm.awaiting_interrogation,
        "scan_over": p._fsm.scan_over,
        "battery": {"used": p._battery_used, "eri_us": p._eri_us},
        "segment": {"start_us": p._segment_start_us, "pumped_q": p._segment_pumped_q},
        "window": {
            "value": window.value,
            "g": _flow_to_plain(window.g),
            "trailing": _flow_to_plain(window.trailing),
            "changes": [[t, *_flow_to_plain(g)] for t, g in window.changes],
            "start_us": window.start_us,
            "start_value": window.start_value,
            "exact": window.exact,
        },
        "alarms": [
            {
                "alarm": alarm.value,
                "raised_us": entry.raised_us,
                "raised_clock_us": entry.raised_clock_us,
                "silenced": entry.silenced,
            }
            for alarm, entry in p._alarms.active.items()
        ],
        "timers": dict(p._timers),
        "log": _log_to_plain(p.log),
    }


def from_plain(data: dict[str, Any]) -> Pump:
    if data.get("format") != FORMAT:
        raise StateFormatError(f"not a pump state: format {data.get('format')!r}")
    version = data.get("version")
    if version not in (*_MIGRATIONS, VERSION) or isinstance(version, bool):
        raise StateFormatError(
            f"pump state version {version!r}: this model reads version {VERSION}"
            f" and migrates versions {', '.join(map(str, _MIGRATIONS))}"
        )
    try:
        while data["version"] != VERSION:
            data = _MIGRATIONS[data["version"]](data)
        return _restore(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFormatError(f"damaged pump state: {type(exc).__name__}: {exc}") from exc


def _restore(data: dict[str, Any]) -> Pump:
    pump = Pump(_config_from_plain(data["config"]), t_us=data["t_us"])
    p = pump
    p._machine.set_state(data["state"])
    p._fsm.basal_on = bool(data["basal_on"])
    reservoir = data["reservoir"]
    p._volume_q = reservoir["volume_q"]
    p._concentration = reservoir["concentration_ug_per_ml"]
    p._drug = reservoir["drug"]
    p._filled_q = reservoir["filled_q"]
    p._withdrawn_q = reservoir["withdrawn_q"]
    p._pumped_q = reservoir["pumped_q"]
    p._low_q = reservoir["low_q"]
    p._empty_q = reservoir["empty_q"]
    p._catheter.segments = deque([int(v), int(c)] for v, c in data["catheter"])
    p._infused_pgq = data["infused_pgq"]
    p._basal = _basal_from_plain(data["basal"])
    p._basal_rate = data["basal_rate_nl_per_day"]
    p._doses = DoseWindow.from_plain(data["dose_window"])
    if p._doses.current != (None if p._basal is None else p._basal.dose_seconds_per_day()):
        raise ValueError("dose window: the total in force is not the basal's")
    p._bolus_rate = data["bolus"]["rate_nl_per_day"]
    p._bolus_kind = data["bolus"]["kind"]
    p._bolus_info = BolusInfo(*data["bolus"]["last"])
    p._patient_info = BolusInfo(*data["bolus"]["last_patient"])
    patient = data["patient"]
    p._limits = None if patient["limits"] is None else PatientLimits(**patient["limits"])
    p._patient_rate = patient["rate_nl_per_day"]
    p._patient_starts = deque(patient["starts_us"])
    p._clock_offset_us = data["clock_offset_us"]
    p._set_lag(_lag_from_plain(data["thermal"], p.config))
    p._blocked = {str(k): int(v) for k, v in data["blocked"].items()}
    p._fsm.awaiting_interrogation = bool(data["await_interrogation"])
    p._fsm.scan_over = bool(data["scan_over"])
    p._battery_used = data["battery"]["used"]
    p._eri_us = data["battery"]["eri_us"]
    p._segment_start_us = int(data["segment"]["start_us"])
    p._segment_pumped_q = int(data["segment"]["pumped_q"])
    plain_window = data["window"]
    tau_us = p.config.thermal_time_constant_us
    window = p._window
    window.value = plain_window["value"]
    window.g = _flow_from_plain(plain_window["g"], tau_us)
    window.trailing = _flow_from_plain(plain_window["trailing"], tau_us)
    window.changes = deque(
        (int(t), _flow_from_plain(flow, tau_us)) for t, *flow in plain_window["changes"]
    )
    window.refresh()
    window.start_us = int(plain_window["start_us"])
    window.start_value = int(plain_window["start_value"])
    window.exact = bool(plain_window["exact"])
    # Before clocks were kept (saved by earlier builds of version 3), the clock in force.
    p._alarms.active = {
        Alarm(a["alarm"]): ActiveAlarm(
            a["raised_us"],
            a.get("raised_clock_us", a["raised_us"] + p._clock_offset_us),
            bool(a["silenced"]),
        )
        for a in data["alarms"]
    }
    p._timers = {str(k): int(v) for k, v in data["timers"].items()}
    p.log = _log_from_plain(data["log"], p.config, p._clock_offset_us)
    if p._fsm.state not in sm.STATES:
        raise ValueError(f"unknown state {p._fsm.state!r}")
    p._plan(resume=True)
    return pump


def _flow_to_plain(flow: Flow) -> list[Any]:
    """[base] for a constant flow; [base, heat, target_mc, deviation_mc, since_us] if lagged."""
    lag = flow.lag
    if lag is None:
        return [flow.base]
    return [flow.base, flow.heat, lag.target_mc, lag.deviation_mc, lag.since_us]


def _flow_from_plain(plain: list[Any], tau_us: int) -> Flow:
    if len(plain) == 1:
        return Flow(int(plain[0]))
    base, heat, target_mc, deviation_mc, since_us = plain
    lag = Lag(int(target_mc), float(deviation_mc), int(since_us), tau_us)
    return Flow(int(base), int(heat), lag)


def _lag_from_plain(plain: dict[str, Any], config: PumpConfig) -> Lag:
    return Lag(
        int(plain["target_mc"]),
        float(plain["deviation_mc"]),
        int(plain["since_us"]),
        config.thermal_time_constant_us,
    )


def _log_to_plain(log: EventLog) -> dict[str, Any]:
    return {
        "written": log.written,
        "clinical_lost": log.clinical_lost,
        "link_lost": log.link_lost,
        "clinical": [_entry_to_plain(i, e) for i, e in log.held(CLINICAL)],
        "link": [_entry_to_plain(i, e) for i, e in log.held(LINK)],
    }


def _entry_to_plain(index: int, entry: LogEntry) -> list[Any]:
    return [index, entry.t_us, entry.kind, dict(entry.detail), entry.clock_us]


def _log_from_plain(plain: dict[str, Any], config: PumpConfig, offset_us: int) -> EventLog:
    def entry(i: Any, t_us: Any, kind: Any, detail: Any, clock_us: Any = None) -> LogEntry:
        # Entries saved before clocks were kept (version 2, and earlier builds of version 3)
        # take the clock in force: the best that is known of them.
        clock = int(t_us) + offset_us if clock_us is None else int(clock_us)
        return LogEntry(int(t_us), str(kind), dict(detail), clock)

    def held(entries: list[list[Any]]) -> list[tuple[int, LogEntry]]:
        return [(int(e[0]), entry(*e)) for e in entries]

    return EventLog.restored(
        config.event_log_capacity,
        config.link_log_capacity,
        written=int(plain["written"]),
        held={CLINICAL: held(plain["clinical"]), LINK: held(plain["link"])},
        lost={CLINICAL: int(plain["clinical_lost"]), LINK: int(plain["link_lost"])},
    )


def _migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 held one ring. Its entries are classified by kind and given the consecutive
    indices that end at ``written``; what it lost counts as clinical, and link entries beyond
    the link ring's capacity are dropped and counted as link losses."""
    log = data["log"]
    entries, written = log["entries"], log["written"]
    config = _config_from_plain(data["config"])
    held: dict[LogClass, list[list[Any]]] = {CLINICAL: [], LINK: []}
    for index, (t_us, kind, detail) in enumerate(entries, start=written - len(entries)):
        held[class_of(kind)].append([index, t_us, kind, detail])
    link_excess = max(0, len(held[LINK]) - config.link_log_capacity)
    migrated = {
        "written": written,
        "clinical_lost": log["overflowed"],
        "link_lost": link_excess,
        "clinical": held[CLINICAL],
        "link": held[LINK][link_excess:],
    }
    return {**data, "version": 2, "log": migrated}


def _migrate_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 stepped the temperature as a staircase: the saved step becomes the lagged
    temperature at the saved instant, heading for the saved target. Window pieces were
    constant integrands; the segment starts at the saved instant, as a version-2 load re-planned
    there. The MRI scan's own end was not kept: a scan under way is taken to last as long as
    its stall (so an interrogation counts once the whole stall is over). Version 2 kept no
    dose window either: the basal in force is its only total, from the moment it is loaded."""
    config = _config_from_plain(data["config"])
    t_us = data["t_us"]
    tau_us = config.thermal_time_constant_us
    deviation = float(data["temperature_mc"] - data["target_mc"]) if tau_us else 0.0
    lag = Lag(int(data["target_mc"]), deviation, t_us, tau_us)
    timers = {k: v for k, v in data["timers"].items() if k != "thermal_step"}
    if not lag.settled:
        bound = settle_bound_mc(
            config.max_rate_nl_per_day, config.heat_coefficient_ppb_per_mc, tau_us
        )
        timers["thermal"] = lag.next_change_us(t_us, bound)
    blocked = data["blocked"]
    if "mri" in blocked:
        timers["scan_end"] = blocked["mri"]
    window = data["window"]
    doses = DoseWindow()
    basal = _basal_from_plain(data["basal"])
    if basal is not None:
        doses.record(t_us, basal.dose_seconds_per_day())
    migrated = {k: v for k, v in data.items() if k not in ("temperature_mc", "target_mc")}
    return {
        **migrated,
        "version": 3,
        "dose_window": doses.to_plain(),
        "thermal": {"target_mc": lag.target_mc, "deviation_mc": deviation, "since_us": t_us},
        "scan_over": "mri" not in blocked,
        "segment": {"start_us": t_us, "pumped_q": 0},
        "timers": timers,
        "window": {
            "value": window["value"],
            "g": [window["g"]],
            "trailing": [window["trailing_g"]],
            "changes": window["changes"],
            "start_us": t_us,
            "start_value": window["value"],
            "exact": True,
        },
    }


def _config_to_plain(config: PumpConfig) -> dict[str, Any]:
    plain = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    plain["drug_library"] = [dataclasses.asdict(d) for d in config.drug_library]
    return plain


def _config_from_plain(plain: dict[str, Any]) -> PumpConfig:
    values = dict(plain)
    values["drug_library"] = tuple(DrugLimits(**d) for d in plain["drug_library"])
    return PumpConfig(**values)


def _basal_to_plain(basal: Basal | None) -> dict[str, Any] | None:
    if basal is None:
        return None
    if isinstance(basal, Flex):
        return {"mode": "flex", "steps": [[s.start_s, s.dose_ug_per_day] for s in basal.steps]}
    return {"mode": "continuous", "dose_ug_per_day": basal.dose_ug_per_day}


def _basal_from_plain(plain: dict[str, Any] | None) -> Basal | None:
    if plain is None:
        return None
    if plain["mode"] == "flex":
        return Flex(tuple(FlexStep(int(s), int(d)) for s, d in plain["steps"]))
    if plain["mode"] == "continuous":
        return Continuous(int(plain["dose_ug_per_day"]))
    raise ValueError(f"unknown basal mode {plain['mode']!r}")


_MIGRATIONS = {1: _migrate_v1, 2: _migrate_v2}  # version: to the next version
