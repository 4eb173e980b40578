"""The control channel of a real emulator process: socket, command line, link, refusals."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil_tests.emulator_process import EmulatorProcess
from programmer.client import Programmer
from protocol import AlarmCode
from rig_control import ControlClient, ControlError, ControlUnavailable

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    control = tmp_path / "control.sock"
    process = EmulatorProcess(
        tmp_path,
        port_args=("--pty", "--link", str(tmp_path / "pump")),
        extra_args=("--speed", "0", "--control", f"unix:{control}"),
    )
    process.control = f"unix:{control}"  # type: ignore[attr-defined]
    with process:
        yield process


def control_cli(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", "control", *words],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_state_advance_and_the_programmer_agree(emulator: EmulatorProcess) -> None:
    address = emulator.control  # type: ignore[attr-defined]
    with ControlClient(address) as rig:
        before = rig.state()
        assert before["state"] == "infusing"
        events = rig.advance("45d")["events"]
        # docs/domain.md worked example: the 2 mL low-reservoir alarm at day 45.
        assert [e["detail"]["alarm"] for e in events if e["kind"] == "alarm"] == ["low_reservoir"]
        after = rig.state()
    assert after["reservoir_nl"] == before["reservoir_nl"] - 45 * 400_000
    with Programmer.open(
        emulator.port, key_file=emulator.key_file, operator="control-test"
    ) as pump:
        status = pump.status()
        assert status.reservoir_ul == after["reservoir_nl"] // 1_000
        assert [a.alarm for a in pump.alarms().alarms] == [AlarmCode.LOW_RESERVOIR]


def test_the_command_line_prints_json_and_exits_by_outcome(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    address = emulator.control  # type: ignore[attr-defined]
    done = control_cli(address, "advance", "1d")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["advanced_s"] == 86_400
    too_far = control_cli(address, "advance", "4000d")
    assert too_far.returncode == 1
    assert too_far.stderr.count("\n") == 1
    assert "out_of_range" in too_far.stderr
    usage = control_cli(address, "temperature", "40")
    assert usage.returncode == 2
    assert "usage: temperature CELSIUS DURATION" in usage.stderr
    nobody = control_cli(f"unix:{tmp_path / 'nobody.sock'}", "state")
    assert nobody.returncode == 3
    assert "no control channel" in nobody.stderr
    snapshot = control_cli(address, "snapshot")
    assert snapshot.returncode == 0, snapshot.stderr
    saved = tmp_path / "pump.json"
    saved.write_text(snapshot.stdout)
    control_cli(address, "advance", "30d")
    restored = control_cli(address, "restore", str(saved))
    assert restored.returncode == 0, restored.stderr
    assert (
        json.loads(restored.stdout)["simulated_time_us"]
        == json.loads(done.stdout)["state"]["simulated_time_us"]
    )
    assert emulator.running


def test_garbage_on_the_control_socket_never_stops_the_emulator(emulator: EmulatorProcess) -> None:
    path = emulator.control.removeprefix("unix:")  # type: ignore[attr-defined]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.settimeout(30)
        raw.connect(path)
        raw.sendall(b'\x00\xff not json\n[1,2]\n{"verb": "advance", "args": {"duration": -1}}\n')
        replies = b""
        while replies.count(b"\n") < 3:
            chunk = raw.recv(4096)
            assert chunk, "the emulator closed the control connection"
            replies += chunk
    codes = [json.loads(line)["error"]["code"] for line in replies.splitlines()]
    assert codes == ["bad_json", "bad_request", "bad_value"]
    with ControlClient(emulator.control) as rig:  # type: ignore[attr-defined]
        assert rig.state()["state"] == "infusing"
        with pytest.raises(ControlError, match="unknown_verb"):
            rig.call("explode")
    assert emulator.running


def test_the_link_names_the_pty_and_refuses_a_second_emulator(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    link = tmp_path / "pump"
    assert os.path.realpath(link) == emulator.port
    assert (tmp_path / "pump.pid").read_text().strip().isdigit()
    second = EmulatorProcess(
        tmp_path / "second", port_args=("--pty", "--link", str(link)), extra_args=()
    )
    (tmp_path / "second").mkdir()
    with pytest.raises(Exception, match="belongs to a running emulator"):
        second.start()
    emulator.stop()
    assert not link.exists()
    assert not (tmp_path / "pump.pid").exists()


def test_a_stale_link_is_replaced_with_a_warning(tmp_path: Path) -> None:
    link = tmp_path / "pump"
    link.symlink_to("/dev/pts/999999")
    (tmp_path / "pump.pid").write_text("999999999\n")  # no such process
    with EmulatorProcess(tmp_path, port_args=("--pty", "--link", str(link))) as process:
        assert os.path.realpath(link) == process.port
        assert "replaced a stale link" in process.log_tail()


def test_a_control_address_other_machines_reach_needs_an_explicit_flag(tmp_path: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "emulator", "--control", "tcp://0.0.0.0:0", "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "--control-allow-remote" in refused.stderr
    with EmulatorProcess(
        tmp_path,
        extra_args=("--control", "tcp://0.0.0.0:0", "--control-allow-remote", "--speed", "0"),
    ) as process:
        assert "reachable from other machines" in process.log_tail()


def test_no_control_channel_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ControlUnavailable, match="no control channel"):
        ControlClient(f"unix:{tmp_path / 'absent.sock'}").state()


def test_a_control_change_is_saved_before_it_is_answered(tmp_path: Path) -> None:
    # Found by attack: advance answered, kill -9 at once, and the restart had lost it.
    control = f"unix:{tmp_path / 'control.sock'}"
    state = tmp_path / "pump.state"
    args = ("--speed", "0", "--control", control, "--state", str(state), "--catch-up", "no")
    first = EmulatorProcess(tmp_path, extra_args=args)
    with first:
        with ControlClient(control) as rig:
            assert [a["alarm"] for a in rig.advance("45d")["state"]["alarms"]] == ["low_reservoir"]
            rig.call("temperature", celsius=41, duration="1h")
        first.kill()
    (tmp_path / "port").unlink()
    with EmulatorProcess(tmp_path, extra_args=args), ControlClient(control) as rig:
        after = rig.state()
    assert [a["alarm"] for a in after["alarms"]] == ["low_reservoir"]
    assert after["temperature_c"] > 37
