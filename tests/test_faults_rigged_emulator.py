"""The live campaigns' shared emulator: its whole log is there to read after it stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from faults.rigged_emulator import RiggedEmulator, rigged_emulator
from hil_tests.emulator_process import EmulatorProcess


@pytest.mark.timeout(120)
def test_the_log_is_read_after_the_emulator_stops_and_time_stands_still() -> None:
    with rigged_emulator() as rigged:
        first = rigged.rig.state()["simulated_time_us"]
        assert rigged.rig.state()["simulated_time_us"] == first  # --speed 0: only the rig moves it
        assert rigged.log_lines == []  # not read while it runs
    assert not rigged.emulator.running
    assert rigged.log_lines, "the emulator's log was not kept"
    assert rigged.error_lines == []


@pytest.mark.timeout(10)
def test_error_and_traceback_lines_count_and_nothing_else(tmp_path: Path) -> None:
    rigged = RiggedEmulator(EmulatorProcess(tmp_path), rig=None)  # type: ignore[arg-type]
    rigged.log_lines = [
        "12:00:00 INFO emulator: serving /dev/pts/3",
        "12:00:01 ERROR emulator: could not save the state",
        "Traceback (most recent call last):",
        "12:00:02 WARNING link: a frame with a bad CRC (ERRORS is not a level)",
    ]
    assert rigged.error_lines == rigged.log_lines[1:3]
