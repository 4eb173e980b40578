"""The conformance plugin (hil_tests/conformance.py) judging runs of made-up tests: a passed
test that never received its code fails the run in one line; skipped and deselected ones are
listed; refusals signed against the document fail it; bad markers stop it before it starts.

Each run is a pytest of its own in a subprocess, as a lab would run the suite; the made-up
tests feed their link log bytes a pump might have sent, so no device is needed.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from hil_tests.conformance import CaseRecord, judge

SCENARIO = """
import pytest
from protocol import ErrorReply, Flags, Frame, Reason, StatusReply, encode_frame, encode_payload


def error_frame(reason, signed=False):
    payload = encode_payload(ErrorReply(reason, 0, "made up"))
    if signed:
        flags = int(Flags.REPLY | Flags.AUTH)
        return encode_frame(Frame(flags, 5, 0x7F, payload, 1, 1, bytes(8)))
    return encode_frame(Frame(int(Flags.REPLY), 0, 0x7F, payload))


@pytest.mark.provokes("BAD_CRC")
@pytest.mark.exchanges("ERROR")
def test_received(link_log):
    link_log.trace("rx", error_frame(Reason.BAD_CRC)[:5])  # in pieces, as a port reads
    link_log.trace("rx", error_frame(Reason.BAD_CRC)[5:])


@pytest.mark.provokes("BAD_FRAMING")
def test_missed(link_log):
    link_log.trace("rx", error_frame(Reason.BAD_CRC))
    link_log.trace("tx", error_frame(Reason.BAD_FRAMING))  # what we sent is not received


@pytest.mark.provokes("LOCKOUT")
def test_without_link_log():
    pass


@pytest.mark.exchanges("GET_STATUS")
def test_exchange_missed(link_log):
    pass


@pytest.mark.provokes("NO_KEY")
def test_skipped(link_log):
    pytest.skip("no second emulator here")


@pytest.mark.provokes("NO_DRUG")
def test_deselected(link_log):
    pass


def test_unmarked_but_unsigned_wrong_state(link_log):
    link_log.trace("rx", error_frame(Reason.WRONG_STATE))


def test_unmarked_but_signed_auth_failed(link_log):
    link_log.trace("rx", error_frame(Reason.AUTH_FAILED, signed=True))
"""

ALL_GOOD = """
import pytest
from protocol import ErrorReply, Flags, Frame, Reason, encode_frame, encode_payload


@pytest.mark.provokes("BAD_CRC")
def test_received(link_log):
    payload = encode_payload(ErrorReply(Reason.BAD_CRC, 0, "made up"))
    link_log.trace("rx", encode_frame(Frame(int(Flags.REPLY), 0, 0x7F, payload)))
"""


def _pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    (tmp_path / "test_scenario.py").write_text(SCENARIO)
    return tmp_path


def _judged(output: str) -> None:
    conformance = [line for line in output.splitlines() if line.startswith("FAILED conformance")]
    prefix = "FAILED conformance: test_scenario.py::"
    assert sorted(conformance) == sorted(
        [
            f"{prefix}test_missed passed without receiving BAD_FRAMING on the wire",
            f"{prefix}test_without_link_log passed without receiving LOCKOUT on the wire "
            "(no link log saw its traffic)",
            f"{prefix}test_exchange_missed passed without receiving a GET_STATUS frame",
            f"{prefix}test_unmarked_but_unsigned_wrong_state: received WRONG_STATE unsigned; "
            "docs/protocol.md section 8 says signed",
            f"{prefix}test_unmarked_but_signed_auth_failed: received AUTH_FAILED signed; "
            "docs/protocol.md section 8 says unsigned",
        ]
    ), output
    assert (
        "not received: NO_KEY (test_scenario.py::test_skipped skipped: no second emulator here)"
        in output
    )
    assert "not received, their tests deselected: NO_DRUG" in output
    assert "reason codes received: 3 of 31 sendable" in output  # BAD_CRC, WRONG_STATE, AUTH_...


def test_a_passed_test_that_missed_its_code_fails_the_run(scenario: Path) -> None:
    run = _pytest(scenario, "-k", "not deselected")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "6 passed, 1 skipped, 1 deselected" in run.stdout  # every test passed
    _judged(run.stdout)


def test_a_run_that_received_everything_passes(tmp_path: Path) -> None:
    (tmp_path / "test_good.py").write_text(ALL_GOOD)
    run = _pytest(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "reason codes received: 1 of 31 sendable" in run.stdout
    assert "FAILED conformance" not in run.stdout


def test_a_marker_naming_no_sendable_code_stops_the_run(tmp_path: Path) -> None:
    (tmp_path / "test_bad.py").write_text(
        "import pytest\n\n@pytest.mark.provokes('LOCKED_OUT')\ndef test_x():\n    pass\n"
    )
    run = _pytest(tmp_path)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert "provokes 'LOCKED_OUT'" in run.stderr


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist not installed")
def test_the_controller_judges_what_the_workers_recorded(scenario: Path) -> None:
    run = _pytest(scenario, "-n", "2", "-k", "not deselected")
    assert run.returncode == 1, run.stdout + run.stderr
    _judged(run.stdout)


def test_a_failed_test_is_not_judged_again() -> None:
    failed = CaseRecord("t::failed", ["BAD_CRC"], [], outcome="failed")
    verdict = judge([failed])
    assert verdict.failures == []
    assert verdict.unreceived == ["BAD_CRC (t::failed failed)"]
