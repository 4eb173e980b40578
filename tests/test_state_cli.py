"""``pump-emulator --state`` from the command line (issue 9): what a user sees at start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator.state_file import Loaded, StateFile
from faults.kill9_state import Emulator
from hil_tests.emulator_process import EmulatorProcess
from programmer import Programmer

EMULATOR = Path(sys.executable).parent / "pump-emulator"
NO_SUCH_PORT = "/dev/ttyNOSUCHPORT"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EMULATOR), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def saved(tmp_path: Path) -> Emulator:
    """A state file holding a pump programmed to 230 ug/day, its emulator killed with -9."""
    emulator = Emulator(tmp_path)
    port = emulator.start()
    with Programmer.open(port, key_file=emulator.key_file, operator="t") as programmer:
        programmer.set_dose(230)
    emulator.kill()
    return emulator


@pytest.mark.timeout(120)
def test_a_pump_killed_with_minus_9_comes_back_as_it_was(saved: Emulator) -> None:
    port = saved.start()
    try:
        with Programmer.open(port, key_file=saved.key_file, operator="t") as programmer:
            assert programmer.prescription().steps[0].dose_ug_per_day == 230
            assert programmer.status().dose_ug_per_day == 230
    finally:
        saved.stop()


@pytest.mark.timeout(120)
def test_options_that_would_change_a_loaded_pump_are_refused(saved: Emulator) -> None:
    newest = newest_generation(saved.state)
    common = ("--port", NO_SUCH_PORT, "--state", str(saved.state))
    line = one_line_error(run(*common, "--fill-ml", "3", "--dose-ug-per-day", "250"))
    assert line == (
        f"pump-emulator: error: --fill-ml, --dose-ug-per-day would change the pump loaded from "
        f"{newest.path} (sequence {newest.sequence}): drop them, or add --reset-state "
        "to start afresh"
    )
    # With --reset-state they are taken: it gets as far as the port.
    result = run(*common, "--fill-ml", "3", "--reset-state", "--key-file", str(saved.key_file))
    assert result.returncode == 3, result.stderr
    assert "--reset-state: the saved pump" in result.stderr


def newest_generation(state: Path) -> Loaded:
    loaded = StateFile(state).load()
    assert loaded is not None
    return loaded


@pytest.mark.timeout(120)
def test_no_valid_generation_exits_two_naming_the_file(tmp_path: Path) -> None:
    state = tmp_path / "pump.state"
    (tmp_path / "pump.state.a").write_text("{}\n")
    line = one_line_error(run("--port", NO_SUCH_PORT, "--state", str(state)))
    assert line.startswith(f"pump-emulator: error: {state}: no valid saved state (")


def test_reset_state_needs_a_state_file() -> None:
    line = one_line_error(run("--port", NO_SUCH_PORT, "--reset-state"))
    assert line == "pump-emulator: error: --reset-state needs --state FILE"


@pytest.mark.timeout(120)
def test_a_torn_newest_generation_is_reported_on_one_line_and_the_older_served(
    saved: Emulator, tmp_path: Path
) -> None:
    newest = newest_generation(saved.state).path  # the commit to 230 ug/day
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])
    emulator = EmulatorProcess(tmp_path / "second", extra_args=("--state", str(saved.state)))
    emulator.workdir.mkdir()
    emulator.key_file = saved.key_file
    with emulator:
        notes = [line for line in emulator.log_tail().splitlines() if "torn (" in line]
        assert len(notes) == 1
        assert notes[0].startswith(f"pump-emulator: {newest.name}: torn (")
        assert notes[0].endswith(f"kept aside as {newest.name}.torn-1")
        with Programmer.open(emulator.port, key_file=saved.key_file) as programmer:
            assert programmer.status().dose_ug_per_day == 200  # the generation before
