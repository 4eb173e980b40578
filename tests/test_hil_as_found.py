"""Leaving the device as found (hil_tests/as_found.py): therapy put back over the wire, the
dose-change cap stepped a day at a time, and what cannot be undone said in words."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from hil_tests.as_found import (
    Footprint,
    NotAsFound,
    Therapy,
    changed_for_good,
    daily_total_ug,
    differences,
    read_therapy,
    restore,
    scaled,
    verify,
)
from hil_tests.emulator_process import EmulatorProcess
from programmer import Programmer
from protocol import Mode, PumpState, StagePrescription, WireStep
from rig_control import ControlClient

pytestmark = pytest.mark.timeout(120)


@dataclass
class Bench:
    emulator: EmulatorProcess
    rig: ControlClient

    def programmer(self) -> Programmer:
        return Programmer.open(
            self.emulator.port, key_file=self.emulator.key_file, operator="as-found-test"
        )


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    control = f"unix:{tmp_path / 'control.sock'}"
    extra = ("--speed", "0", "--control", control, "--telemetry-session-cost", "0s")
    with EmulatorProcess(tmp_path, extra_args=extra) as emulator, ControlClient(control) as rig:
        yield Bench(emulator, rig)


def continuous(
    dose: int, patient: tuple[int, int, int, int] = (0, 0, 0, 0), low_reservoir_ul: int = 2000
) -> StagePrescription:
    return StagePrescription(Mode.CONTINUOUS, (WireStep(0, dose),), *patient, low_reservoir_ul)


def test_every_part_of_the_therapy_is_put_back_and_verified(bench: Bench) -> None:
    with bench.programmer() as pump:
        found = read_therapy(pump)
        assert found.not_restorable is None
        pump.set_flex((WireStep(0, 200), WireStep(8 * 3600, 250)))
        pump.set_patient_limits(10, 600, 3600, 4)
        pump.set_low_reservoir_alarm(3000)
        pump.stop(confirm_withdrawal_risk=True)
        changed = differences(found, read_therapy(pump))
        assert len(changed) == 4, changed  # basal, patient limits, alarm volume, state
        done = restore(pump, found)
        verify(pump, found)
        assert read_therapy(pump) == found
    assert done == ["programmed continuous 200 ug/day and started"]


def test_a_pump_found_stopped_is_stopped_before_its_prescription_goes_back(bench: Bench) -> None:
    bench.rig.reset("stopped")
    with bench.programmer() as pump:
        found = read_therapy(pump)
        assert found.state is PumpState.STOPPED
        pump.set_dose(210, start=True)
        assert restore(pump, found) == ["stopped (infusing)", "programmed continuous 200 ug/day"]
        verify(pump, found)
        assert restore(pump, found) == []  # as found: nothing to do


def test_the_dose_change_cap_is_climbed_a_day_at_a_time_when_time_may_pass(bench: Bench) -> None:
    with bench.programmer() as pump:
        found = read_therapy(pump)
        pump.set_dose(100)
        bench.rig.advance("1d1s")  # 200 ug/day leaves the cap's 24 h window
        with pytest.raises(NotAsFound, match="DOSE_CHANGE_LIMIT"):
            restore(pump, found)  # no way to let a day pass: refused, and said why
        done = restore(pump, found, wait_a_day=lambda: bench.rig.advance("1d1s"))
        verify(pump, found)
    assert done == [
        "programmed continuous 140 ug/day (the dose-change cap), a day passed",
        "programmed continuous 196 ug/day (the dose-change cap), a day passed",
        "programmed continuous 200 ug/day",
    ]


def test_a_pump_found_unprogrammed_cannot_be_put_back_over_the_wire(bench: Bench) -> None:
    bench.rig.reset("unprogrammed")
    with bench.programmer() as pump:
        found = read_therapy(pump)
        assert found.not_restorable == "no prescription is programmed"
        pump.set_dose(200)
        with pytest.raises(NotAsFound, match="no prescription is programmed"):
            restore(pump, found)
        with pytest.raises(NotAsFound, match="basal continuous 200 ug/day, was none"):
            verify(pump, found)


def test_differences_say_what_is_and_what_was() -> None:
    found = Therapy(continuous(200), PumpState.INFUSING)
    now = Therapy(
        continuous(210, patient=(10, 600, 3600, 4), low_reservoir_ul=3000),
        PumpState.STOPPED,
    )
    assert differences(found, now) == [
        "basal continuous 210 ug/day, was continuous 200 ug/day",
        "patient limits 10 ug over 600 s, lockout 3600 s, 4/day, was boluses off",
        "low-reservoir alarm 3000 uL, was 2000 uL",
        "pump stopped, was infusing",
    ]
    assert differences(found, now, state=False)[-1].startswith("low-reservoir")
    assert differences(found, found) == []


def test_a_flex_total_counts_each_step_until_the_next_one_through_midnight() -> None:
    flex = replace(
        continuous(0), mode=Mode.FLEX, steps=(WireStep(6 * 3600, 300), WireStep(18 * 3600, 100))
    )
    assert daily_total_ug(flex) == pytest.approx(200.0)  # 12 h at 300, 12 h at 100
    half = scaled(flex, 100.0)
    assert [s.dose_ug_per_day for s in half.steps] == [150, 50]
    assert [s.start_s for s in half.steps] == [6 * 3600, 18 * 3600]


def test_what_the_run_changed_for_good_is_said_in_words() -> None:
    start = Footprint(1000.0, 1_800_000_000, 10, 19_000, 500, 40)
    same = replace(start, wall_s=1060.0, clock_s=1_800_000_060)
    assert changed_for_good(start, same) == []
    end = Footprint(1060.0, 1_800_000_060 + 86_400, 12, 18_000, 400, 52)
    assert changed_for_good(start, end) == [
        "12 log entries written (index 40 to 52)",
        "drug delivered: 2 ug (infused 10 to 12 ug)",
        "reservoir 19000 to 18000 uL",
        "concentration 500 to 400 ug/mL (a refill)",
        "pump clock moved +86460 s in 60 s of wall time (set, or simulated time jumped)",
    ]
