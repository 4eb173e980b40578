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
from tests.protocol.pair import seeded


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
