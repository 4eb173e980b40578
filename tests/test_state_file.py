"""The state file (issue 9): two checksummed generations, the newest whole one wins."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from emulator import state_file
from emulator.state_file import StateFile, StateFileError


def state(n: int) -> dict[str, Any]:
    """A state whose every byte matters: a torn copy of it must never load."""
    return {"n": n, "log": [[i, f"entry {i}", {"z": i, "a": -i}] for i in range(40)]}


def saved(tmp_path: Path, *ns: int) -> StateFile:
    file = StateFile(tmp_path / "pump.state", durable=False)
    for n in ns:
        file.save(state(n))
    return file


def newest_slot(tmp_path: Path) -> Path:
    slots = [tmp_path / "pump.state.a", tmp_path / "pump.state.b"]
    return max(slots, key=lambda p: json.loads(p.read_bytes().split(b"\n")[1])["sequence"])


def test_no_file_at_all_is_none(tmp_path: Path) -> None:
    assert StateFile(tmp_path / "pump.state").load() is None


def test_the_newest_generation_loads_and_the_older_stays(tmp_path: Path) -> None:
    saved(tmp_path, 1, 2, 3)
    loaded = StateFile(tmp_path / "pump.state").load()
    assert loaded is not None
    assert (loaded.state, loaded.sequence, loaded.notes) == (state(3), 3, ())
    assert loaded.path.name == "pump.state.a"  # 1 in a, 2 in b, 3 in a
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pump.state.a", "pump.state.b"]


def test_sequence_numbers_go_on_growing_across_restarts(tmp_path: Path) -> None:
    saved(tmp_path, 1, 2)
    for expected in (2, 3, 4):
        file = StateFile(tmp_path / "pump.state", durable=False)
        loaded = file.load()
        assert loaded is not None
        assert loaded.sequence == expected
        file.save(state(expected + 1))
    assert file.sequence == 5


def test_a_save_never_touches_the_newest_generation(tmp_path: Path) -> None:
    file = saved(tmp_path, 1, 2)
    newest = newest_slot(tmp_path)
    before = newest.read_bytes()
    (tmp_path / "pump.state.a.tmp").mkdir()  # the next save cannot even be written
    with pytest.raises(StateFileError, match=r"pump\.state\.a: cannot save"):
        file.save(state(3))
    assert newest.read_bytes() == before
    (tmp_path / "pump.state.a.tmp").rmdir()
    file.save(state(3))
    loaded = StateFile(tmp_path / "pump.state").load()
    assert loaded is not None
    assert (loaded.state, loaded.sequence) == (state(3), 3)


@pytest.mark.parametrize("fiftieth", range(50))
def test_a_torn_newest_generation_gives_the_older_and_is_kept_aside(
    tmp_path: Path, fiftieth: int
) -> None:
    saved(tmp_path, 1, 2)
    newest = newest_slot(tmp_path)
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) * fiftieth // 50])
    file = StateFile(tmp_path / "pump.state", durable=False)
    loaded = file.load()
    assert loaded is not None
    assert (loaded.state, loaded.sequence) == (state(1), 1)
    (note,) = loaded.notes
    assert note.startswith("pump.state.b: torn (")
    assert note.endswith("kept aside as pump.state.b.torn-1")
    assert "\n" not in note
    assert not newest.exists()
    assert (tmp_path / "pump.state.b.torn-1").read_bytes() == data[: len(data) * fiftieth // 50]
    file.save(state(3))  # into the slot set free; the older generation stays
    again = StateFile(tmp_path / "pump.state").load()
    assert again is not None
    assert (again.state, again.sequence, again.notes) == (state(3), 2, ())


def test_bit_flips_anywhere_are_caught(tmp_path: Path) -> None:
    saved(tmp_path, 1, 2)
    newest = newest_slot(tmp_path)
    data = newest.read_bytes()
    rng = random.Random(9)
    for position in [*range(120), *rng.sample(range(len(data)), 200)]:
        flipped = bytearray(data)
        flipped[position] ^= 1 << rng.randrange(8)
        newest.write_bytes(bytes(flipped))
        loaded = StateFile(tmp_path / "pump.state", durable=False).load()
        assert loaded is not None
        assert loaded.state == state(1), position
        aside = tmp_path / "pump.state.b.torn-1"
        assert aside.exists()
        aside.unlink()


def test_garbage_is_torn_and_torn_copies_are_numbered(tmp_path: Path) -> None:
    saved(tmp_path, 1, 2)
    for n in (1, 2):
        (tmp_path / "pump.state.b").write_bytes(random.Random(n).randbytes(3_000))
        loaded = StateFile(tmp_path / "pump.state", durable=False).load()
        assert loaded is not None
        assert loaded.notes == (
            f"pump.state.b: torn (unreadable header), kept aside as pump.state.b.torn-{n}",
        )


def test_both_generations_bad_is_an_error_naming_the_file_and_moves_nothing(
    tmp_path: Path,
) -> None:
    saved(tmp_path, 1, 2)
    (tmp_path / "pump.state.a").write_bytes(b"")
    data = (tmp_path / "pump.state.b").read_bytes()
    (tmp_path / "pump.state.b").write_bytes(data[:-10] + b"0123456789")
    with pytest.raises(StateFileError) as error:
        StateFile(tmp_path / "pump.state").load()
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'pump.state'}: no valid saved state (")
    assert "pump.state.a: torn (empty)" in message
    assert "pump.state.b: torn (" in message
    assert "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pump.state.a", "pump.state.b"]


def test_one_generation_alone_is_enough(tmp_path: Path) -> None:
    saved(tmp_path, 1)
    loaded = StateFile(tmp_path / "pump.state").load()
    assert loaded is not None
    assert loaded.state == state(1)


def test_an_unfinished_save_is_ignored_and_removed(tmp_path: Path) -> None:
    saved(tmp_path, 1)
    (tmp_path / "pump.state.b.tmp").write_bytes(b'{"format":"itb-emul')
    loaded = StateFile(tmp_path / "pump.state").load()
    assert loaded is not None
    assert loaded.notes == ()
    assert not (tmp_path / "pump.state.b.tmp").exists()


def rewrite(path: Path, change: dict[str, Any]) -> None:
    """A whole generation with its body changed, checksum recomputed."""
    body = {**json.loads(path.read_bytes().split(b"\n")[1]), **change}
    data = state_file.canonical(body).encode()
    header = {"format": "itb-emulator-state", "length": len(data)}
    header["sha256"] = hashlib.sha256(data).hexdigest()
    path.write_bytes(state_file.canonical(header).encode() + b"\n" + data + b"\n")


def test_another_version_is_refused_naming_both_versions(tmp_path: Path) -> None:
    saved(tmp_path, 1, 2)
    rewrite(newest_slot(tmp_path), {"version": 7})
    with pytest.raises(StateFileError) as error:
        StateFile(tmp_path / "pump.state").load()
    assert str(error.value) == (
        f"{tmp_path / 'pump.state.b'}: state file version 7; this emulator reads version 1 "
        "(and migrates none)"
    )


def test_a_migration_hook_brings_an_older_version_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved(tmp_path, 1, 2)  # version 1, read by a build whose version is 2

    def from_1(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "version": 2, "state": {"migrated": body["state"]}}

    monkeypatch.setattr(state_file, "VERSION", 2)
    monkeypatch.setitem(state_file.MIGRATIONS, 1, from_1)
    loaded = StateFile(tmp_path / "pump.state").load()
    assert loaded is not None
    assert loaded.state == {"migrated": state(2)}


def test_a_second_emulator_on_the_same_state_is_refused(tmp_path: Path) -> None:
    first = StateFile(tmp_path / "pump.state")
    first.lock()
    second = StateFile(tmp_path / "pump.state")
    with pytest.raises(StateFileError, match="in use by another emulator"):
        second.lock()
    first.unlock()
    second.lock()
    second.unlock()


def test_the_files_are_private_and_text(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "pump.state")
    file.save(state(1))
    path = tmp_path / "pump.state.a"
    assert path.stat().st_mode & 0o077 == 0
    header, body, end = path.read_bytes().split(b"\n")
    assert end == b""
    assert json.loads(header)["format"] == "itb-emulator-state"
    assert json.loads(body)["state"] == state(1)
