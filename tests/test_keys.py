"""Keys: no default, never shown, per device, from a file or the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.keys import load_or_create
from programmer.errors import KeyProblem
from programmer.keys import load_keyring
from protocol import Key, KeyFileError, Keyring, Role, default_key_path
from protocol.keyring import KeyFileTooOpen, WeakKey, Weakness, mode_problem
from tests.protocol.pair import seeded

RANDOM = seeded(11)(32 * 3)
GOOD_HEX = [RANDOM[i : i + 32].hex() for i in range(0, 96, 32)]
# Each entry: keys that no random source produces, and why.
WEAK_KEYS: dict[str, tuple[dict[str, str], Weakness]] = {
    "all zero": ({"clinician": "00" * 32, "patient": GOOD_HEX[1]}, Weakness.CONSTANT),
    "one byte repeated": ({"clinician": GOOD_HEX[0], "patient": "a5" * 32}, Weakness.CONSTANT),
    "seven distinct bytes": (
        {"clinician": GOOD_HEX[0], "read-only": bytes(range(7)).hex() * 4 + "00" * 4},
        Weakness.FEW_VALUES,
    ),
    "one key for two roles": (
        {"clinician": GOOD_HEX[0], "patient": GOOD_HEX[1], "read-only": GOOD_HEX[0]},
        Weakness.SHARED,
    ),
}


def key_json(keys: dict[str, str], serial_number: str = "P1") -> str:
    return json.dumps({"serial_number": serial_number, "keys": keys})


def test_generated_key_file_is_private_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "P1.json"
    keyring, created = load_or_create(path, "P1")
    assert created
    assert path.stat().st_mode & 0o777 == 0o600
    again, created_again = load_or_create(path, "P1")
    assert not created_again
    assert again.keys == keyring.keys


def test_every_emulator_gets_keys_of_its_own(tmp_path: Path) -> None:
    first, _ = load_or_create(tmp_path / "a.json", "P1")
    second, _ = load_or_create(tmp_path / "b.json", "P1")
    assert first.keys[Role.CLINICIAN] != second.keys[Role.CLINICIAN]


def test_keys_never_show_in_repr_or_errors() -> None:
    keyring = Keyring.generate("P1", seeded(4))
    secret = keyring.keys[Role.CLINICIAN].export_hex()
    assert secret not in repr(keyring)
    assert secret not in repr(keyring.keys[Role.CLINICIAN])
    with pytest.raises(KeyFileError) as error:
        Keyring.from_plain({"serial_number": "P1", "keys": {"clinician": secret[:-2] + "zz"}})
    assert secret[:-2] not in str(error.value)


def test_malformed_key_files_are_refused() -> None:
    for bad in ["[]", '{"keys": {}}', '{"serial_number": "P", "keys": {"admin": "00"}}', "{"]:
        with pytest.raises(KeyFileError):
            Keyring.from_json(bad)
    with pytest.raises(ValueError, match="32 bytes"):
        Key(b"short")


def test_default_location_follows_xdg() -> None:
    assert (
        str(default_key_path("EMU/1", {"XDG_CONFIG_HOME": "/c"})) == "/c/itb-pump/keys/EMU_1.json"
    )
    assert str(default_key_path("E", {"HOME": "/h"})) == "/h/.config/itb-pump/keys/E.json"


def test_programmer_takes_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = Keyring.generate("P1", seeded(8))
    monkeypatch.delenv("PUMP_KEY_FILE", raising=False)
    monkeypatch.setenv("PUMP_KEYS", json.dumps(keyring.to_plain()))
    assert load_keyring("P1").keys == keyring.keys
    with pytest.raises(KeyProblem, match="not P2"):
        load_keyring("P2")


def test_emulator_log_never_contains_key_material(tmp_path: Path) -> None:
    keyring = Keyring.generate("EMU000001", seeded(9))
    env = {**os.environ, "PUMP_KEYS": json.dumps(keyring.to_plain())}
    process = subprocess.run(
        [sys.executable, "-m", "emulator", "--verbose", "--port", "/dev/nonexistent-port"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    output = process.stdout + process.stderr
    assert process.returncode == 3
    for key in keyring.keys.values():
        assert key.export_hex() not in output


@pytest.mark.parametrize("mode", [0o644, 0o666, 0o640, 0o604, 0o660, 0o610, 0o601])
def test_a_mode_open_to_group_or_others_is_a_problem(mode: int) -> None:
    problem = mode_problem(0o100000 | mode, "/x/keys.json")
    assert isinstance(problem, KeyFileTooOpen)
    assert problem.mode == mode
    assert problem.path == "/x/keys.json"
    assert str(problem) == (
        f"key file /x/keys.json is accessible by others (mode {mode:04o}): chmod 600 /x/keys.json"
    )


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700, 0o200, 0o000])
def test_a_mode_for_the_owner_alone_is_fine(mode: int) -> None:
    assert mode_problem(0o100000 | mode, "/x/keys.json") is None


def test_the_fix_quotes_a_path_the_shell_would_split() -> None:
    problem = mode_problem(0o100644, "/x/my keys.json")
    assert problem is not None
    assert str(problem).endswith("chmod 600 '/x/my keys.json'")


@pytest.mark.parametrize("case", WEAK_KEYS)
def test_weak_keys_are_refused_without_quoting_them(case: str) -> None:
    keys, weakness = WEAK_KEYS[case]
    with pytest.raises(WeakKey) as error:
        Keyring.from_json(key_json(keys))
    assert error.value.weakness is weakness
    assert all(role.label in keys for role in error.value.roles)
    for secret in keys.values():
        assert secret not in str(error.value)
        assert secret[:8] not in str(error.value)


def test_weak_keys_are_refused_however_the_keyring_is_built() -> None:
    with pytest.raises(WeakKey):
        Keyring("P1", {Role.CLINICIAN: Key(bytes(32))})
    with pytest.raises(WeakKey):
        Keyring.generate("P1", lambda n: bytes(n))  # a broken random source


def test_eight_distinct_byte_values_are_enough() -> None:
    keys = {"clinician": bytes(range(8)).hex() * 4}
    assert Keyring.from_json(key_json(keys)).keys[Role.CLINICIAN].distinct_byte_values() == 8
