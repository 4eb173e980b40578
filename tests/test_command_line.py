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

from faults.noisy_pty import NoisyProxy
from hil_tests.emulator_process import EmulatorProcess
from protocol import (
    Frame,
    FrameDecoder,
    Hello,
    HelloReply,
    Keyring,
    MessageType,
    ProgrammerConnection,
    ReplyReceived,
)
from tests.key_files import GOOD_KEYS, WEAK_KEYS, key_json, write_key_file
from transport import NoiseModel

BIN = Path(sys.executable).parent
COMMAND_TIMEOUT_S = 60
SERIAL = "EMU000001"
NO_SUCH_PORT = "/dev/ttyNOSUCHPORT"


@pytest.fixture(scope="module", autouse=True)
def config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private ~/.config: the emulator writes its keys there, the programmer finds them."""
    home = tmp_path_factory.mktemp("config")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(home))
        patch.delenv("PUMP_PORT", raising=False)
        patch.delenv("PUMP_KEY_FILE", raising=False)
        yield home


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
def emulator(
    tmp_path_factory: pytest.TempPathFactory, config_home: Path
) -> Iterator[EmulatorProcess]:
    """Started as `make run` starts it: keys generated in the default location."""
    workdir = tmp_path_factory.mktemp("cli-emulator")
    with EmulatorProcess(workdir, own_key_file=False) as process:
        yield process
    assert (config_home / "itb-pump" / "keys" / "EMU000001.json").exists()


def test_missing_port_names_the_port() -> None:
    result = run("pump-programmer", "--port", "/dev/pts/999", "status")
    assert_one_line_error(result, "/dev/pts/999")
    assert result.returncode == 3


def test_no_port_at_all_is_a_usage_error() -> None:
    result = run("pump-programmer", "status")
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
    assert data["identity"]["protocol_version"] == 2
    assert set(data["status"]) >= {"state", "alarms", "dose_ug_per_day", "reservoir_ul"}


def test_refused_dose_exits_one_with_the_reason(emulator: EmulatorProcess) -> None:
    # Refused before anything is sent, from the limits the pump reported, in ug/day: the same
    # exit code as the pump's own refusal.
    result = run("pump-programmer", "--port", emulator.port, "set-dose", "5000")
    assert_one_line_error(result, "5000 ug/day is above baclofen's 1000 ug/day limit")
    assert result.returncode == 1


def test_set_dose_then_status_over_the_command_line(emulator: EmulatorProcess) -> None:
    changed = run("pump-programmer", "--port", emulator.port, "set-dose", "231", "--yes")
    assert changed.returncode == 0, changed.stderr
    assert "in force" in changed.stdout
    assert "staged" in changed.stdout
    result = run("pump-programmer", "--json", "--port", emulator.port, "status")
    assert json.loads(result.stdout)["status"]["dose_ug_per_day"] == 231


def test_stop_needs_the_confirmation_option(emulator: EmulatorProcess) -> None:
    result = run("pump-programmer", "--port", emulator.port, "stop")
    assert_one_line_error(result, "CONFIRMATION_REQUIRED")
    assert result.returncode == 2  # a usage error: nothing was sent


def test_patient_role_cannot_program(emulator: EmulatorProcess) -> None:
    result = run("pump-programmer", "--role", "patient", "--port", emulator.port, "set-dose", "240")
    assert_one_line_error(result, "set-dose needs the clinician role")
    assert result.returncode == 2


def test_missing_key_file_is_named(emulator: EmulatorProcess, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    result = run("pump-programmer", "--key-file", str(missing), "--port", emulator.port, "status")
    assert_one_line_error(result, str(missing))
    assert result.returncode == 5


def test_hello_needs_no_key(emulator: EmulatorProcess) -> None:
    empty_config = {**os.environ, "XDG_CONFIG_HOME": "/nonexistent"}
    result = run("pump-programmer", "--port", emulator.port, "hello", env=empty_config)
    assert result.returncode == 0, result.stderr
    assert "EMU000001" in result.stdout


def test_log_lists_the_sessions(emulator: EmulatorProcess) -> None:
    result = run("pump-programmer", "--json", "--port", emulator.port, "log")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    kinds = [entry["kind"] for entry in data["entries"]]
    assert "session_opened" in kinds
    assert {entry["log_class"] for entry in data["entries"]} >= {"clinical", "link"}
    assert data["clinical_lost"] == 0
    assert isinstance(data["link_lost"], int)


def test_log_prints_what_each_ring_has_lost(emulator: EmulatorProcess) -> None:
    result = run("pump-programmer", "--port", emulator.port, "--operator", "dr-who", "log")
    assert result.returncode == 0, result.stderr
    assert "lost from the log since the pump was made: 0 clinical, " in result.stdout
    opened = [line for line in result.stdout.splitlines() if "session_opened" in line]
    assert "by=dr-who" in opened[-1]  # the session's operator, in the pump's own record


@pytest.mark.parametrize(
    ("hex_text", "expected"),
    [
        ("c001000001010002010151d0c0", '"message": "Hello"'),
        ("01000001010002010151d0", '"message": "Hello"'),  # delimiters may be left out
    ],
)
def test_decode_prints_json(hex_text: str, expected: str) -> None:
    result = run("pump-programmer", "decode", hex_text)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


@pytest.mark.parametrize(
    ("hex_text", "code"),
    [("c001000001010002010151d1c0", 1), ("zz", 2), ("c0dbc0", 1)],  # not hex: bad usage
)
def test_decode_refuses_with_a_typed_error(hex_text: str, code: int) -> None:
    result = run("pump-programmer", "decode", hex_text)
    assert result.returncode == code
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("pump-programmer: error:")


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
        seq, data = programmer.request(Hello())
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
        assert isinstance(reply, HelloReply)
    finally:
        emulator.stop()
        os.close(master)
        os.close(slave)
    assert emulator.returncode == 0, emulator.log_tail()


def test_emulator_prints_its_pty_and_the_command_to_type() -> None:
    """What `make run` shows a new user: a /dev/pts/N path, and a command that works."""
    process = subprocess.Popen(
        [str(BIN / "pump-emulator"), "--pty"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        output = b""
        command = ""
        while not command and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if ready:  # raw reads: a buffered reader would hide lines from select()
                output += os.read(process.stdout.fileno(), 4096)
            for line in output.decode(errors="replace").splitlines():
                if "pump-programmer --port /dev/pts/" in line:
                    command = line.strip()
        assert command, f"no programmer command printed: {output!r}"
        program, *arguments = command.split()
        result = run(Path(program).name, *arguments)
        assert result.returncode == 0, result.stderr
        assert "State" in result.stdout
    finally:
        process.terminate()
        process.wait(10)
    assert process.returncode == 0


def emulator_keys(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The emulator on a port that does not exist. It reads its keys before it opens the port,
    so exit 3 (the port) means the keys were accepted, and exit 2 that they were refused."""
    return run("pump-emulator", "--port", NO_SUCH_PORT, *args, env=env)


def no_key_file(path: Path) -> str:
    """The emulator's whole stderr for a key file that is not there: a contract."""
    return f"pump-emulator: error: no key file {path} (add --new-keys to create one)\n"


def emulator_key_file(config_home: Path) -> Path:
    return config_home / "itb-pump" / "keys" / f"{SERIAL}.json"


def test_emulator_help_documents_new_keys() -> None:
    result = run("pump-emulator", "--help")
    assert result.returncode == 0
    assert "--new-keys" in result.stdout


@pytest.mark.parametrize("mode", [0o644, 0o666], ids=oct)
def test_emulator_refuses_a_key_file_others_can_read(tmp_path: Path, mode: int) -> None:
    path = write_key_file(tmp_path / "keys.json", key_json(GOOD_KEYS, SERIAL), mode)
    result = emulator_keys("--key-file", str(path))
    assert_one_line_error(result, str(path), f"{mode:04o}")
    assert result.returncode == 2


def test_emulator_uses_a_private_key_file(tmp_path: Path) -> None:
    path = write_key_file(tmp_path / "keys.json", key_json(GOOD_KEYS, SERIAL))
    result = emulator_keys("--key-file", str(path))
    assert result.returncode == 3, result.stderr


@pytest.mark.parametrize("mode", [0o644, 0o666], ids=oct)
def test_programmer_refuses_a_key_file_others_can_read(
    emulator: EmulatorProcess, config_home: Path, tmp_path: Path, mode: int
) -> None:
    keys = emulator_key_file(config_home).read_text()
    path = write_key_file(tmp_path / "keys.json", keys, mode)
    result = run("pump-programmer", "--key-file", str(path), "--port", emulator.port, "status")
    assert_one_line_error(result, str(path), f"{mode:04o}")
    assert result.returncode == 5


def test_programmer_uses_a_private_key_file(
    emulator: EmulatorProcess, config_home: Path, tmp_path: Path
) -> None:
    path = write_key_file(tmp_path / "keys.json", emulator_key_file(config_home).read_text())
    result = run("pump-programmer", "--key-file", str(path), "--port", emulator.port, "status")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("case", WEAK_KEYS)
def test_emulator_refuses_weak_keys(tmp_path: Path, case: str) -> None:
    text = key_json(WEAK_KEYS[case][0], SERIAL)
    path = write_key_file(tmp_path / "keys.json", text)
    from_file = emulator_keys("--key-file", str(path))
    assert_one_line_error(from_file, str(path))
    from_env = emulator_keys(env={**os.environ, "PUMP_KEYS": text})
    assert_one_line_error(from_env, "$PUMP_KEYS")
    for result in (from_file, from_env):
        assert result.returncode == 2
        assert not any(key in result.stderr for key in WEAK_KEYS[case][0].values())


@pytest.mark.parametrize("case", WEAK_KEYS)
def test_programmer_refuses_weak_keys(emulator: EmulatorProcess, tmp_path: Path, case: str) -> None:
    text = key_json(WEAK_KEYS[case][0], SERIAL)
    path = write_key_file(tmp_path / "keys.json", text)
    from_file = run("pump-programmer", "--key-file", str(path), "--port", emulator.port, "status")
    assert_one_line_error(from_file, str(path))
    env = {**os.environ, "PUMP_KEYS": text}
    from_env = run("pump-programmer", "--port", emulator.port, "status", env=env)
    assert_one_line_error(from_env, "$PUMP_KEYS")
    for result in (from_file, from_env):
        assert result.returncode == 5
        assert not any(key in result.stderr for key in WEAK_KEYS[case][0].values())


def test_emulator_refuses_a_missing_key_file(tmp_path: Path) -> None:
    """A typo in --key-file must not make a pump with new keys."""
    path = tmp_path / "keys.jsn"
    result = emulator_keys("--key-file", str(path))
    assert result.returncode == 2
    assert result.stderr == no_key_file(path)
    assert not path.exists()


def test_a_key_file_from_the_environment_is_explicit(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsn"
    result = emulator_keys(env={**os.environ, "PUMP_KEY_FILE": str(path)})
    assert result.returncode == 2
    assert result.stderr == no_key_file(path)
    assert not path.exists()


def test_new_keys_creates_a_private_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    result = emulator_keys("--key-file", str(path), "--new-keys")
    assert result.returncode == 3, result.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    assert Keyring.from_json(path.read_text()).serial_number == SERIAL


def test_new_keys_leaves_an_existing_key_file_alone(tmp_path: Path) -> None:
    path = write_key_file(tmp_path / "keys.json", key_json(GOOD_KEYS, SERIAL))
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.read_bytes(), path.stat().st_mtime_ns
    result = emulator_keys("--key-file", str(path), "--new-keys")
    assert result.returncode == 3, result.stderr
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_new_keys_checks_an_existing_key_file(tmp_path: Path) -> None:
    path = write_key_file(tmp_path / "keys.json", key_json(GOOD_KEYS, SERIAL), 0o644)
    result = emulator_keys("--key-file", str(path), "--new-keys")
    assert_one_line_error(result, str(path))
    assert result.returncode == 2
    assert path.stat().st_mode & 0o777 == 0o644


def test_new_keys_never_creates_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "kyes"
    result = emulator_keys("--key-file", str(folder / "keys.json"), "--new-keys")
    assert_one_line_error(result, str(folder))
    assert result.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_the_default_key_file_is_created_on_the_first_run(tmp_path: Path) -> None:
    unset = {"XDG_CONFIG_HOME", "PUMP_KEYS", "PUMP_KEY_FILE"}
    env = {name: value for name, value in os.environ.items() if name not in unset}
    env["HOME"] = str(tmp_path)
    first = emulator_keys(env=env)
    assert first.returncode == 3, first.stderr
    path = tmp_path / ".config" / "itb-pump" / "keys" / f"{SERIAL}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    created = path.read_bytes()
    again = emulator_keys(env=env)
    assert again.returncode == 3, again.stderr
    assert path.read_bytes() == created


def test_a_bolus_whose_replies_are_lost_for_good_exits_six(tmp_path: Path) -> None:
    # Issue 7, point 3: the line dies right after the bolus reaches the pump; the programmer
    # can neither hear the reply nor ask what became of it. Not "failed": outcome unknown.
    def is_bolus(data: bytes) -> bool:
        frames = FrameDecoder().feed(data)
        return any(isinstance(f, Frame) and f.msg_type == MessageType.BOLUS for f in frames)

    with EmulatorProcess(tmp_path) as emulator:
        assert emulator.key_file is not None
        keys = ("--key-file", str(emulator.key_file))
        with NoisyProxy(emulator.port, NoiseModel(0, 0, 0), 1, cut_after=is_bolus) as proxy:
            result = run(
                "pump-programmer", "--port", proxy.path, *keys, "--timeout", "0.2",
                "--budget-s", "1", "bolus", "5", "--duration-s", "60", "--yes",
            )  # fmt: skip
            assert proxy.cut
        assert result.returncode == 6, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert "outcome unknown: interrogate the pump before retrying" in last
        assert "Traceback" not in result.stderr
        log = run("pump-programmer", "--port", emulator.port, *keys, "--json", "log")
    kinds = [entry["kind"] for entry in json.loads(log.stdout)["entries"]]
    assert kinds.count("bolus_started") == 1  # it ran; nobody said it had not


def test_budget_and_exit_codes_are_in_the_help() -> None:
    result = run("pump-programmer", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--budget-s S" in text
    assert "(default 10 s)" in text
    assert "6 outcome unknown: interrogate the pump before retrying" in text
