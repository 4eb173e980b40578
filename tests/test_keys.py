"""Keys: no default, never shown, per device, from a file or the environment."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from emulator.keys import NoKeyFile, NoKeyFolder, find_keys, load, load_or_create
from programmer.errors import KeyProblem
from programmer.keys import load_keyring
from protocol import Key, KeyFileError, Keyring, Role, default_key_path
from protocol.keyring import MIN_DISTINCT_BYTES, KeyFileTooOpen, WeakKey, mode_problem
from tests.key_files import GOOD_KEYS, WEAK_KEYS, key_json, write_key_file
from tests.protocol.pair import seeded


def test_generated_key_file_is_private_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "P1.json"
    keyring, created = load_or_create(path, "P1", make_folder=True)
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


@pytest.mark.parametrize("mode", [0o644, 0o666, 0o640, 0o604, 0o660, 0o610, 0o601], ids=oct)
def test_a_mode_open_to_group_or_others_is_a_problem(mode: int) -> None:
    problem = mode_problem(0o100000 | mode, "/x/keys.json")
    assert isinstance(problem, KeyFileTooOpen)
    assert problem.mode == mode
    assert problem.path == "/x/keys.json"
    assert str(problem) == (
        f"key file /x/keys.json is accessible by others (mode {mode:04o}): chmod 600 /x/keys.json"
    )


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700, 0o200, 0o000], ids=oct)
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
        Keyring.from_json(key_json(keys, "P1"))
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
    assert Keyring.from_json(key_json(keys, "P1")).keys[Role.CLINICIAN].distinct_byte_values() == 8


def test_few_distinct_bytes_mean_no_random_source() -> None:
    """The figure in protocol/keyring.py: P(a random key has under 8 distinct bytes)."""
    stirling = [[1]]  # S(n, k), n and k up to 32
    for n in range(1, 33):
        row = [0] * (n + 1)
        for k in range(1, n + 1):
            row[k] = k * (stirling[n - 1][k] if k < n else 0) + stirling[n - 1][k - 1]
        stirling.append(row)
    ways = sum(
        math.comb(256, k) * stirling[32][k] * math.factorial(k)
        for k in range(1, MIN_DISTINCT_BYTES)
    )
    probability = Fraction(ways, 256**32)
    assert 1.1e-37 < probability < 1.3e-37


@pytest.fixture
def no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUMP_KEYS", raising=False)
    monkeypatch.delenv("PUMP_KEY_FILE", raising=False)


@pytest.mark.parametrize("mode", [0o644, 0o666], ids=oct)
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int, no_key_env: None) -> None:
    path = write_key_file(tmp_path / "keys.json", key_json(GOOD_KEYS, "P1"), mode)
    with pytest.raises(KeyFileTooOpen) as refused:
        load(path)
    assert refused.value.path == str(path)
    with pytest.raises(KeyProblem) as problem:
        load_keyring("P1", path)
    assert problem.value.exit_code == 5
    assert str(path) in str(problem.value)
    assert f"{mode:04o}" in str(problem.value)


def test_a_private_key_file_is_used(tmp_path: Path, no_key_env: None) -> None:
    path = write_key_file(tmp_path / "keys.json", key_json(GOOD_KEYS, "P1"))
    assert load(path).keys == load_keyring("P1", path).keys
    assert load(path).keys[Role.PATIENT].export_hex() == GOOD_KEYS["patient"]


@pytest.mark.parametrize("case", WEAK_KEYS)
def test_a_key_file_with_weak_keys_is_refused(tmp_path: Path, case: str, no_key_env: None) -> None:
    keys, weakness = WEAK_KEYS[case]
    path = write_key_file(tmp_path / "keys.json", key_json(keys, "P1"))
    with pytest.raises(KeyFileError) as refused:
        load(path)
    assert isinstance(refused.value.__cause__, WeakKey)
    assert refused.value.__cause__.weakness is weakness
    with pytest.raises(KeyProblem) as problem:
        load_keyring("P1", path)
    for error in (refused.value, problem.value):
        assert str(path) in str(error)
        assert not any(secret in str(error) for secret in keys.values())


@pytest.mark.parametrize("case", WEAK_KEYS)
def test_weak_keys_in_the_environment_are_refused(
    case: str, monkeypatch: pytest.MonkeyPatch, no_key_env: None
) -> None:
    keys, _ = WEAK_KEYS[case]
    monkeypatch.setenv("PUMP_KEYS", key_json(keys, "P1"))
    with pytest.raises(KeyFileError) as refused:
        find_keys("P1", None, False, os.environ)
    with pytest.raises(KeyProblem) as problem:
        load_keyring("P1")
    for error in (refused.value, problem.value):
        assert str(error).startswith("$PUMP_KEYS: ")
        assert not any(secret in str(error) for secret in keys.values())


def test_a_malformed_key_file_is_a_key_problem(tmp_path: Path, no_key_env: None) -> None:
    path = write_key_file(tmp_path / "keys.json", '{"serial_number": "P1", "keys": []}')
    with pytest.raises(KeyProblem) as problem:
        load_keyring("P1", path)
    assert problem.value.exit_code == 5
    assert str(path) in str(problem.value)


def test_a_missing_explicit_key_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.json"
    with pytest.raises(NoKeyFile):
        find_keys("P1", path, False, {})
    assert not path.exists()


def test_new_keys_never_make_the_folder(tmp_path: Path) -> None:
    with pytest.raises(NoKeyFolder):
        find_keys("P1", tmp_path / "typo" / "keys.json", True, {})
    assert list(tmp_path.iterdir()) == []


def test_new_keys_never_overwrite_a_key_file(tmp_path: Path) -> None:
    path = write_key_file(tmp_path / "keys.json", key_json(GOOD_KEYS, "P1"))
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.read_bytes(), path.stat().st_mtime_ns
    keys = find_keys("P1", path, True, {})
    assert not keys.created
    assert keys.keyring.keys[Role.CLINICIAN].export_hex() == GOOD_KEYS["clinician"]
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_new_keys_are_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    old = os.umask(0)
    try:
        keys = find_keys("P1", path, True, {})
    finally:
        os.umask(old)
    assert keys.created
    assert path.stat().st_mode & 0o777 == 0o600
    assert load(path).keys == keys.keyring.keys


def test_the_default_location_is_made_on_the_first_run(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path)}
    first = find_keys("P1", None, False, environ)
    path = tmp_path / ".config" / "itb-pump" / "keys" / "P1.json"
    assert first.created
    assert first.source == str(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = find_keys("P1", None, False, environ)
    assert not again.created
    assert again.keyring.keys == first.keyring.keys
