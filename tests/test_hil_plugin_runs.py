"""The HIL plugin in whole pytest runs (pytester, in a subprocess as a lab would run it):
as found, hardware rules, failing fast, one run per device, records, xdist (issue 10)."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hil_tests.device_lock import DeviceLock
from hil_tests.emulator_process import EmulatorProcess

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(180)

FAIL_FAST_S = 15.0  # issue 10: against a URL where nothing answers, the run ends within this

THERAPY_TESTS = """
import pytest
from protocol import PumpState, WireStep

@pytest.mark.changes_therapy
def test_changes_the_whole_therapy(pump):
    pump.set_flex((WireStep(0, 200), WireStep(8 * 3600, 250)))
    pump.set_low_reservoir_alarm(3000)
    pump.stop(confirm_withdrawal_risk=True)

def test_the_next_test_finds_it_as_found(pump):
    status = pump.status()
    assert (status.state, status.dose_ug_per_day) == (PumpState.INFUSING, 200)
    assert pump.prescription().low_reservoir_ul == 2000

@pytest.mark.destructive
def test_destructive(pump):
    pass

@pytest.mark.needs_control
def test_needs_control(pump):
    pass
"""

LEAKING_TESTS = """
import pytest

def test_leaks_a_dose(pump):
    pump.set_dose(210)

@pytest.mark.changes_therapy
def test_starts_from_the_therapy_found(pump):
    assert pump.status().dose_ug_per_day == 200
    pump.set_dose(220)

def test_leaks_again(pump):
    pump.stop(confirm_withdrawal_risk=True)
"""

RECORDED_TESTS = """
def test_measures(pump, measure, request):
    status = pump.status()
    measure("reservoir_ul", status.reservoir_ul, units="uL", low=1000, high=20000)
    timeout = request.node.get_closest_marker("timeout")
    assert (timeout.args, timeout.kwargs) == ((120,), {"method": "signal"})

def test_out_of_limits(measure):
    measure("supply_v", 5, units="V", high=3.3)
"""

PUMP_TESTS = """
import pytest

@pytest.mark.parametrize("n", range(4))
def test_interrogates(pump, n):
    assert pump.status().dose_ug_per_day == 200
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in list(os.environ):
        if name.startswith("PUMP_") or name in ("PYTEST_ADDOPTS", "PYTEST_TIMEOUT"):
            monkeypatch.delenv(name)
    return pytester


@pytest.fixture
def hardware(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """An emulator the plugin cannot tell from hardware: no control channel given."""
    with EmulatorProcess(tmp_path / "hw", extra_args=("--telemetry-session-cost", "0s")) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path) -> None:
    (tmp_path / "hw").mkdir()


def run_json(pytester: pytest.Pytester) -> dict[str, Any]:
    records = sorted((pytester.path / "reports").glob("run-*.json"))
    assert records, "no run record written"
    result: dict[str, Any] = json.loads(records[-1].read_text())
    return result


def one_line(result: pytest.RunResult, needle: str) -> str:
    lines = [line for line in result.outlines + result.errlines if needle in line]
    assert len(lines) == 1, result.outlines + result.errlines
    assert not any("Traceback" in line for line in result.outlines + result.errlines)
    return lines[0]


def test_therapy_is_put_back_by_snapshot_and_over_the_wire(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_therapy=THERAPY_TESTS)
    for extra in ([], ["--no-snapshot"]):
        result = suite.runpytest_subprocess("-p", "no:cacheprovider", *extra)
        outcomes = {"passed": 3, "skipped": 1} if extra else {"passed": 4}
        result.assert_outcomes(**outcomes)
        [device] = run_json(suite)["devices"]
        assert device["at_end"].startswith("as found (continuous 200 ug/day")
    result.stdout.fnmatch_lines(["*the device as found, and what the run changed for good*"])


def test_a_test_changing_therapy_unmarked_is_named_and_undone(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_leaks=LEAKING_TESTS)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines_random(
        [
            "*the therapy was not as found before this test (basal continuous 210 ug/day, was "
            "continuous 200 ug/day): put back over the wire; changed by one of the 1 tests "
            "since the last check, not marked changes_therapy: test_leaks.py::test_leaks_a_dose*",
            "*put back at the end (pump stopped, was infusing; changed by one of the 1 tests "
            "since the last check, not marked changes_therapy: test_leaks.py::test_leaks_again)*",
        ]
    )
    [device] = run_json(suite)["devices"]
    assert len(device["found_changed"]) == 1


def test_hardware_rules_and_the_therapy_allowance(
    suite: pytest.Pytester, hardware: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(test_therapy=THERAPY_TESTS)
    device = ["--device-url", hardware.port, "--device-key-file", str(hardware.key_file)]
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-rs", *device)
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines_random(
        [
            "*changes_therapy: on hardware only with --allow-therapy-changes SERIAL*",
            "*destructive: never on hardware*",
            "*needs_control: no control channel*",
        ]
    )
    wrong = suite.runpytest_subprocess(
        "-p", "no:cacheprovider", *device, "--allow-therapy-changes", "NOPE"
    )
    assert wrong.ret == 4
    one_line(wrong, "reports serial EMU000001, not NOPE (--allow-therapy-changes)")
    monkeypatch.setenv("PUMP_ALLOW_THERAPY_CHANGES", "EMU000001")
    allowed = suite.runpytest_subprocess("-p", "no:cacheprovider", *device)
    allowed.assert_outcomes(passed=2, skipped=2)  # changed over the wire, put back, verified
    assert run_json(suite)["devices"][0]["at_end"].startswith("as found")


def test_nothing_answering_ends_the_run_at_once_in_one_line(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_pump=PUMP_TESTS)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"socket://127.0.0.1:{probe.getsockname()[1]}"
    refused = suite.runpytest_subprocess("-p", "no:cacheprovider", "--device-url", closed)
    assert refused.ret == 3
    assert refused.duration < FAIL_FAST_S
    line = one_line(refused, f"pump device {closed}")
    assert "Connection refused" in line
    assert "cable" in line
    controller, served = pty.openpty()  # a port nobody serves: HELLO goes unanswered
    try:
        port = os.ttyname(served)
        silent = suite.runpytest_subprocess("-p", "no:cacheprovider", "--device-url", port)
    finally:
        os.close(served)
        os.close(controller)
    assert silent.ret == 3
    assert silent.duration < FAIL_FAST_S
    line = one_line(silent, f"pump device {port}: no answer to HELLO")
    assert "baud" in line
    assert "cable" in line


def test_a_device_another_run_holds_is_refused_naming_it(
    suite: pytest.Pytester, hardware: EmulatorProcess
) -> None:
    suite.makepyfile(test_pump=PUMP_TESTS)
    with DeviceLock(hardware.port):
        result = suite.runpytest_subprocess(
            "-p", "no:cacheprovider", "--device-url", hardware.port,
            "--device-key-file", str(hardware.key_file),
        )  # fmt: skip
    assert result.ret == 4
    one_line(result, f"in use by another test run (PID {os.getpid()},")


def test_records_junit_measurements_captures_and_pruning(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_recorded=RECORDED_TESTS)
    args = ["-p", "no:cacheprovider", "--junitxml=junit.xml", "--capture-dir=caps"]
    result = suite.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "pump records: junit_family=xunit1, junit_logging=system-out (set by the pump plugin*",
            "pump: per-test timeout 120 s (signal) set by the pump plugin*",
        ]
    )
    record = run_json(suite)
    tests = {t["nodeid"].split("::")[-1]: t for t in record["tests"]}
    measured = tests["test_measures"]
    assert measured["outcome"] == "passed"
    assert measured["device_serial"] == "EMU000001"
    assert measured["round_trips_ms"]["count"] >= 3
    [reservoir] = measured["measurements"]
    assert reservoir["units"] == "uL"
    assert reservoir["outcome"] == "PASS"
    assert (reservoir["low"], reservoir["high"]) == (1000, 20000)
    off = tests["test_out_of_limits"]
    assert off["outcome"] == "failed"
    assert "supply_v = 5 V (limits ..3.3)" in off["message"]
    assert off["measurements"][0]["outcome"] == "FAIL"
    case = ET.parse(suite.path / "junit.xml").find(".//testcase[@name='test_measures']")
    assert case is not None
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["device_serial"] == "EMU000001"
    assert properties["device_model"]
    assert properties["device_firmware"]
    assert properties["device_protocol_version"] == "2"
    system_out = case.findtext("system-out") or ""
    assert "HelloReply(model=" in system_out  # the link log, decoded
    [capture] = (suite.path / "caps").glob("*test_measures.pcap")
    decoded = subprocess.run(
        [sys.executable, "-m", "programmer", "decode", "--capture", str(capture)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert decoded.returncode == 0
    assert "request GET_STATUS" in decoded.stdout
    suite.runpytest_subprocess(*args, "--reports-keep", "1")
    assert len(list((suite.path / "reports").glob("run-*.json"))) == 1


def test_xdist_workers_each_get_their_own_emulator(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_pump=PUMP_TESTS)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=4)
    record = run_json(suite)
    assert sorted(d["worker"] for d in record["devices"]) == ["gw0", "gw1"]
    # Each its own emulator, told apart by its control socket (a fresh temporary folder): a
    # pty's number is not, as a second emulator may get the number the first one freed.
    assert len({d["control"] for d in record["devices"]}) == 2
    assert {t["worker"] for t in record["tests"]} <= {"gw0", "gw1"}


def test_tests_needing_a_higher_role_than_the_key_grants_are_skipped(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(test_pump=PUMP_TESTS + RECORDED_TESTS.split("def test_out_of_limits")[0])
    result = suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rs", "--device-role", "read-only"
    )
    result.assert_outcomes(skipped=5)
    result.stdout.fnmatch_lines(["*needs the clinician role; the key file grants read-only*"])
    assert run_json(suite)["devices"][0]["role"] == "read-only"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-n", "3", "--device-url", "socket://a:1", "--device-url", "socket://b:1"],
         "3 xdist workers but 2 device(s)"),
        (["--device-url", "socket://a:1", "--device-url", "socket://b:1",
          "--device-key-file", "k.json"],
         "2 --device-url but 1 --device-key-file"),
        (["--emulator-control", "tcp://127.0.0.1:1"], "--emulator-control needs --device-url"),
    ],
)  # fmt: skip
def test_devices_and_workers_that_do_not_pair_are_refused(
    suite: pytest.Pytester, args: list[str], says: str
) -> None:
    suite.makepyfile(test_pump=PUMP_TESTS)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert result.ret == 4
    one_line(result, says)
