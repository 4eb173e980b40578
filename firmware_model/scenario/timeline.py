"""A scenario's therapy timeline: the pump sampled at every instant anything changes.

The model integrates a constant flow between events, so samples taken at every event instant,
before and after every step, and at the run's end draw the reservoir exactly as a
piecewise-linear line, and the flow and temperature exactly as steps. Only a thermal time
constant bends them between events (firmware_model/heat.py); while it does, samples are also
taken every ``max_gap_us``. Slicing time into more ``advance_to`` calls never changes a figure
(firmware_model/pump.py), so the run is the one ``run_scenario`` makes.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from firmware_model import state_machine as sm
from firmware_model.errors import PumpRefusal
from firmware_model.event_log import LogEntry
from firmware_model.pump import Pump
from firmware_model.scenario.run import _APPLY  # the runner's own step table: the same run
from firmware_model.scenario.spec import Scenario
from firmware_model.units import BODY_TEMPERATURE_MC, US_PER_S

MIN_GAP_US = US_PER_S
GAPS_PER_TIME_CONSTANT = 10


@dataclass(frozen=True, slots=True)
class Sample:
    """The pump at ``t_us`` (model time from the run's start), after all that happened then."""

    t_us: int
    reservoir_nl: int
    flow_nl_per_day: int  # what the motor delivers from now on, heat included
    temperature_mc: int
    state: str
    low_reservoir_nl: int  # the alarm volume in force


@dataclass(frozen=True, slots=True)
class Timeline:
    samples: tuple[Sample, ...]  # in time order; two at one instant around a step
    events: tuple[LogEntry, ...]  # every log entry the run wrote (refusals included)


def scenario_timeline(scenario: Scenario, max_gap_us: int | None = None) -> Timeline:
    """Run ``scenario`` as ``run_scenario`` does, sampling the pump at every event instant.

    ``max_gap_us``: the longest gap between samples while a thermal lag bends the curves
    (default: a tenth of the thermal time constant, at least a second).
    """
    pump = Pump(scenario.config)
    events: list[LogEntry] = []
    exposed = False  # an exposure is in force: the body temperature may be moving

    def listen(entry: LogEntry) -> None:
        nonlocal exposed
        events.append(entry)
        if entry.kind == "temperature":  # an exposure began, or ended (37 °C)
            exposed = round(entry.detail["celsius"] * 1_000) != BODY_TEMPERATURE_MC

    pump.log.listeners.append(listen)
    tau_us = scenario.config.thermal_time_constant_us
    gap_us = max_gap_us or max(MIN_GAP_US, tau_us // GAPS_PER_TIME_CONSTANT)
    samples = [_sample(pump)]

    def advance(t_us: int, until_eos: bool) -> bool:
        """Advance to ``t_us`` event by event; True: end of service stopped the run."""
        while pump.t_us < t_us:
            next_us = pump.next_event_us()
            target = t_us if next_us is None else min(t_us, next_us)
            lagging = pump.status().temperature_mc != BODY_TEMPERATURE_MC or exposed
            if tau_us and lagging:
                target = min(target, pump.t_us + gap_us)
            pump.advance_to(target)
            samples.append(_sample(pump))
            if until_eos and pump.state == sm.END_OF_SERVICE:
                return True
        return until_eos and pump.state == sm.END_OF_SERVICE

    until_eos = scenario.until_us is None
    end_us = scenario.horizon_us if until_eos else scenario.until_us
    assert end_us is not None
    for step in scenario.steps:
        if step.at_us > end_us or advance(step.at_us, until_eos):
            break
        with suppress(PumpRefusal):  # a refusal changed nothing, and is in the log
            _APPLY[step.action](pump, step)
        samples.append(_sample(pump))
    else:
        advance(end_us, until_eos)
    return Timeline(tuple(_dedupe(samples)), tuple(events))


def _sample(pump: Pump) -> Sample:
    status = pump.status()
    return Sample(
        t_us=status.t_us,
        reservoir_nl=status.reservoir_nl,
        flow_nl_per_day=status.flow_nl_per_day,
        temperature_mc=status.temperature_mc,
        state=status.state,
        low_reservoir_nl=pump.low_reservoir_nl,
    )


def _dedupe(samples: list[Sample]) -> list[Sample]:
    """Drop a sample equal to the one before it: a step that changed nothing drawn."""
    kept: list[Sample] = []
    for sample in samples:
        if not kept or kept[-1] != sample:
            kept.append(sample)
    return kept
