"""The two commands as a user types them: clear one-line errors, and a working session."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil_tests.emulator_process import EmulatorProcess
from protocol import GetStatus, ProgrammerConnection, ReplyReceived, StatusReply

BIN = Path(sys.executable).parent
COMMAND_TIMEOUT_S = 60


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tmp_path_factory.mktemp("cli-emulator")) as process:
        yield process


def test_missing_port_names_the_port() -> None:
    result = run("pump-programmer", "--port", "/dev/pts/999", "status")
    assert_one_line_error(result, "/dev/pts/999")
    assert result.returncode == 3


def test_no_port_at_all_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PUMP_PORT"}
    result = run("pump-programmer", "status", env=env)
    assert result.returncode == 2
    assert "--port" in result.stderr


def test_status_prints_identity_and_status(emulator: EmulatorProcess) -> None:
    result = run("pump-programmer", "--port", emulator.port, "status")
    assert result.returncode == 0, result.stderr
    assert "ITBP-20" in result.stdout
    assert "infusing" in result.stdout


def test_json_status_has_stable_keys(emulator: EmulatorProcess) -> None:
    result = run("pump-programmer", "--json", "--port", emulator.port, "status")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["identity"]["protocol_version"] == 1
    assert set(data["status"]) >= {"state", "alarms", "dose_ug_per_day", "reservoir_ul"}


def test_refused_dose_exits_one_with_the_reason(emulator: EmulatorProcess) -> None:
    result = run("pump-programmer", "--port", emulator.port, "set-dose", "5000")
    assert_one_line_error(result, "DRUG_LIMIT", "5000")
    assert result.returncode == 1


def test_set_dose_then_status_over_the_command_line(emulator: EmulatorProcess) -> None:
    assert run("pump-programmer", "--port", emulator.port, "set-dose", "231").returncode == 0
    result = run("pump-programmer", "--json", "--port", emulator.port, "status")
    assert json.loads(result.stdout)["status"]["dose_ug_per_day"] == 231


def test_negative_dose_is_a_usage_error() -> None:
    result = run("pump-programmer", "--port", "loop://", "set-dose", "-5")
    assert result.returncode == 2


def test_no_reply_is_a_link_error() -> None:
    # loop:// echoes our own request back: a port with no pump behind it.
    result = run(
        "pump-programmer", "--timeout", "0.2", "--retries", "1", "--port", "loop://", "hello"
    )
    assert_one_line_error(result, "no reply", "loop://")
    assert result.returncode == 4


def test_emulator_refuses_an_impossible_start() -> None:
    result = run("pump-emulator", "--dose-ug-per-day", "5000")
    assert_one_line_error(result, "5000")
    assert result.returncode == 2


def test_emulator_names_a_port_it_cannot_open() -> None:
    result = run("pump-emulator", "--port", "/dev/ttyNOSUCHPORT")
    assert_one_line_error(result, "/dev/ttyNOSUCHPORT")
    assert result.returncode == 3


def test_emulator_serves_on_a_port_given_by_url(tmp_path: Path) -> None:
    """``--port URL`` takes the pyserial path: here the far end of a pty the test owns."""
    master, slave = os.openpty()
    emulator = EmulatorProcess(tmp_path, port_args=("--port", os.ttyname(slave)))
    try:
        emulator.start()
        programmer = ProgrammerConnection()
        seq, data = programmer.request(GetStatus())
        os.write(master, data)
        reply = None
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while reply is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                programmer.receive_data(os.read(master, 4096))
                for event in programmer.events():
                    if isinstance(event, ReplyReceived) and event.seq == seq:
                        reply = event.message
        assert isinstance(reply, StatusReply)
    finally:
        emulator.stop()
        os.close(master)
        os.close(slave)
    assert emulator.returncode == 0, emulator.log_tail()
