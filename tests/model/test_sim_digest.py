"""The model's results, bit for bit, as they were before issue 11 made the simulation faster.

Each case runs a scenario (or a hand-driven pump) and hashes every output record and the
pump's whole final state as plain data (``persistence.to_plain``: volumes in quanta, the
over-infusion window, the lag's floats, the log). The expected digests were computed on
main before any speed work: an optimisation that changes a single quantum, microsecond or
float bit anywhere fails here. ``python -m tests.model.test_sim_digest`` prints them.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_model import seven_year_scenario
from firmware_model import Alarm, Continuous, Flex, FlexStep, PatientLimits, Pump, PumpConfig
from firmware_model.errors import PumpRefusal
from firmware_model.persistence import to_plain
from firmware_model.scenario import Scenario, parse_scenario_text, run_scenario
from firmware_model.units import NL_PER_ML, US_PER_DAY, US_PER_HOUR, US_PER_MIN

ROOT = Path(__file__).resolve().parents[2]
FLEX24 = ROOT / "benchmarks" / "flex24_7y.toml"


def _digest(records: list[dict[str, Any]], pump: Pump) -> str:
    sha = hashlib.sha256()
    for record in records:
        sha.update(json.dumps(record, sort_keys=True).encode())
    sha.update(json.dumps(to_plain(pump), sort_keys=True).encode())
    return sha.hexdigest()[:32]  # 128 bits: plenty to tell two results apart


def _scenario_digest(scenario: Scenario) -> str:
    pump = Pump(scenario.config)
    return _digest(list(run_scenario(scenario, pump)), pump)


def _text(path: Path, *replacements: tuple[str, str]) -> Callable[[], Scenario]:
    def load() -> Scenario:
        text = path.read_text(encoding="utf-8")
        for old, new in replacements:
            assert old in text
            text = text.replace(old, new)
        return parse_scenario_text(text)

    return load


def _driven_pump() -> str:
    """A pump driven through the API, time sliced unevenly: a set clock (flex on the pump's
    own day), a lag with crossings both ways, boluses, stalls, a concentration change."""
    pump = Pump(
        PumpConfig(thermal_time_constant_us=25 * US_PER_MIN, reservoir_capacity_nl=40 * NL_PER_ML)
    )
    records: list[dict[str, Any]] = []
    pump.log.listeners.append(
        lambda e: records.append({"t_us": e.t_us, "kind": e.kind, **e.detail})
    )
    flex = Flex(
        tuple(FlexStep(s, d) for s, d in ((0, 300), (7_777, 420), (40_000, 350), (70_001, 390)))
    )
    actions: list[tuple[int, Callable[[Pump], object]]] = [
        (0, lambda p: p.refill(40 * NL_PER_ML, 1000)),
        (0, lambda p: p.prime()),
        (US_PER_HOUR, lambda p: p.set_clock(1_700_000_123_456_789)),
        (US_PER_HOUR + 5, lambda p: p.program(flex, start=True)),
        (
            2 * US_PER_HOUR,
            lambda p: p.set_patient_limits(PatientLimits(20, 10 * US_PER_MIN, 2 * US_PER_HOUR, 4)),
        ),
        (3 * US_PER_HOUR, lambda p: p.expose_temperature(41_500, 50 * US_PER_MIN)),
        (3 * US_PER_HOUR + 7, lambda p: p.patient_bolus()),
        (5 * US_PER_HOUR, lambda p: p.expose_temperature(33_000, 2 * US_PER_HOUR)),
        (6 * US_PER_HOUR, lambda p: p.clinician_bolus(30, 20 * US_PER_MIN)),
        (7 * US_PER_HOUR + 3, lambda p: p.expose_temperature(39_000, 3 * US_PER_HOUR)),
        (8 * US_PER_HOUR, lambda p: p.mri(40 * US_PER_MIN)),
        (9 * US_PER_HOUR, lambda p: p.interrogate()),
        (9 * US_PER_HOUR + 1, lambda p: p.acknowledge(Alarm.OVER_INFUSION)),  # refused
        (9 * US_PER_HOUR + 40 * US_PER_MIN, lambda p: p.acknowledge(Alarm.OVER_INFUSION)),
        (11 * US_PER_HOUR, lambda p: p.occlude(US_PER_HOUR)),
        (US_PER_DAY, lambda p: p.program(Continuous(330))),
        (US_PER_DAY + 9, lambda p: p.expose_temperature(40_000, US_PER_HOUR)),
        (2 * US_PER_DAY, lambda p: p.refill(30 * NL_PER_ML, 2000, prescription=None)),
        (
            2 * US_PER_DAY + 1,
            lambda p: p.refill(30 * NL_PER_ML, 2000, prescription=p.prescription()),
        ),
        (3 * US_PER_DAY, lambda p: p.stop(confirm=True)),
        (3 * US_PER_DAY + US_PER_HOUR, lambda p: p.start()),
        (3 * US_PER_DAY + 2 * US_PER_HOUR, lambda p: p.expose_temperature(42_000, 90 * US_PER_MIN)),
        # Warm when the low-reservoir alarm comes: a threshold solved under the lag.
        (
            171 * US_PER_DAY + 16 * US_PER_HOUR,
            lambda p: p.expose_temperature(41_000, 3 * US_PER_HOUR),
        ),
    ]
    for at_us, action in actions:
        while pump.t_us < at_us:
            pump.advance_to(min(at_us, pump.t_us + 1_234_567_891))
        try:
            action(pump)
        except PumpRefusal as refusal:
            records.append({"t_us": pump.t_us, "refused": refusal.message})
    end_us = 200 * US_PER_DAY  # through the low and empty alarms
    while pump.t_us < end_us:
        pump.advance_to(min(end_us, pump.t_us + 7 * US_PER_HOUR + 13))
    return _digest(records, pump)


def _example_digest(path: Path) -> str:
    return _scenario_digest(_text(path)())


CASES: dict[str, Callable[[], str]] = {
    **{
        f"example-{path.stem}": functools.partial(_example_digest, path)
        for path in sorted((ROOT / "examples").glob("*.toml"))
    },
    "flex24_7y": lambda: _scenario_digest(_text(FLEX24)()),
    "flex24-no-lag": lambda: _scenario_digest(
        _text(
            FLEX24, ('thermal_time_constant = "40m"', ""), ('horizon = "2557d"', 'horizon = "400d"')
        )()
    ),
    "bench_model-7y": lambda: _scenario_digest(seven_year_scenario()),
    "driven-pump": _driven_pump,
}

# Computed on main at 7027996, before the speed work of issue 11.
EXPECTED: dict[str, str] = {
    "bench_model-7y": "fb25602df92ba331e5059b11a01e4c4b",
    "driven-pump": "ac404a2b34da5960a9369afcd498c2c5",
    "example-battery-life": "164d7a1679cba6f57a64b1ef42314fa3",
    "example-flex-and-patient-bolus": "739d0b420a613a14d27b7cdd2ec3d756",
    "example-hot-tub": "abe7d026b51cede9ab802157135b5a7d",
    "example-mri-while-alarming": "08dc410beec61eb6a1499b964f4fe80f",
    "example-refill-new-concentration": "1d33f42b3bfe719f6b47a288822acab5",
    "example-therapy-quarter": "13d27ddc0165df25d837991d1f19fcce",
    "example-worked-example": "02fb6604eb804da7ea9a5366d930846b",
    "flex24-no-lag": "38a609ffa1e43fd7c94e7241f29b1387",
    "flex24_7y": "19d49f40d8cd38002e1bd6e65c491400",
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("case", sorted(CASES))
def test_results_are_bit_for_bit_those_of_before(case: str) -> None:
    assert CASES[case]() == EXPECTED[case]


if __name__ == "__main__":
    for name in sorted(CASES):
        print(f"    {name!r}: {CASES[name]()!r},")
