"""``--state`` in the serve loop (issue 9): no byte leaves before what it reflects is durable."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from emulator.persistence_shell import (
    DurableDevice,
    open_state,
    resumed_device,
    start_time_us,
)
from emulator.state_file import StateFile, StateFileError, canonical
from firmware_model.units import US_PER_S
from protocol import (
    Bolus,
    BolusReply,
    CommitPrescription,
    ErrorReply,
    GetStatus,
    Message,
    Reason,
    ReplyReceived,
    Staged,
)
from tests.test_device_state import KEYS, Rand, Wire, new_device, prescription


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


class DurableWire(Wire):
    """The serve loop's order: receive, persist, then (maybe) write."""

    durable: DurableDevice

    def send(self, data: bytes) -> list[Message]:
        out = self.durable.persist(self.device.receive(data, self.now_us, self.now_us))
        self.sent.append(out)
        self.programmer.receive_data(out)
        return [e.message for e in self.programmer.events() if isinstance(e, ReplyReceived)]


def durable_wire(tmp_path: Path, clock: Clock) -> DurableWire:
    wire = DurableWire(new_device(Rand(1)))
    wire.durable = DurableDevice(
        wire.device, StateFile(tmp_path / "pump.state", durable=False), monotonic=clock
    )
    wire.durable.save()
    return wire


def on_disk(tmp_path: Path) -> dict[str, Any]:
    loaded = StateFile(tmp_path / "pump.state").load()
    assert loaded is not None
    return loaded.state


def test_a_change_is_on_disk_before_its_reply_is_handed_back(tmp_path: Path) -> None:
    wire = durable_wire(tmp_path, Clock())
    wire.open()
    reply = wire.ask(Bolus(100, 1_800))
    assert isinstance(reply, BolusReply)
    assert canonical(on_disk(tmp_path)) == canonical(wire.device.to_plain())


def test_noise_costs_no_save_and_time_is_saved_now_and_then(tmp_path: Path) -> None:
    clock = Clock()
    wire = durable_wire(tmp_path, clock)
    saves = wire.durable.saves
    for _ in range(200):
        wire.send(b"\xc0\x01garbage\xc0")
    wire.ask(GetStatus())  # unsigned refusal: no session
    assert wire.durable.saves == saves
    wire.now_us += 3_600 * US_PER_S
    wire.durable.persist(wire.device.tick(wire.now_us))
    assert wire.durable.saves == saves  # time moved, but the period has not passed
    clock.now_s += 10
    assert wire.durable.persist(b"status") == b"status"
    assert wire.durable.saves == saves + 1
    assert on_disk(tmp_path)["pump"]["t_us"] == wire.now_us


def test_a_failed_save_withholds_the_reply_and_a_retransmission_resolves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wire = durable_wire(tmp_path, Clock())
    wire.open()
    staged = wire.ask(prescription(250))
    assert isinstance(staged, Staged)
    before = on_disk(tmp_path)
    save = wire.durable.file.save

    def disk_full(state: dict[str, Any]) -> None:
        raise StateFileError(f"{tmp_path}/pump.state.b: cannot save: No space left on device")

    monkeypatch.setattr(wire.durable.file, "save", disk_full)
    commit = wire.programmer.prepare(CommitPrescription(staged.digest))
    with caplog.at_level(logging.ERROR):
        assert wire.send(commit.data) == []  # nothing went out
        assert wire.send(commit.data) == []  # the retransmission: still not durable
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # one line for the streak, not one per attempt
    assert "No space left on device" in errors[0].getMessage()
    assert on_disk(tmp_path) == before  # the last saved state stands

    monkeypatch.setattr(wire.durable.file, "save", save)
    (reply,) = wire.send(commit.data)  # answered from the cache, once durable
    assert not isinstance(reply, ErrorReply)
    assert on_disk(tmp_path)["pump"]["basal"]["dose_ug_per_day"] == 250
    programmed = [e for e in wire.device.pump.log if e.kind == "programmed"]
    assert len(programmed) == 2  # 200 at the start, 250 once: nothing ran twice


def test_restore_is_durable_first_and_refused_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = durable_wire(tmp_path, Clock())
    wire.open()
    snapshot = wire.device.to_plain()
    wire.ask(Bolus(100, 1_800))
    after_bolus = canonical(wire.device.to_plain())

    def broken(state: dict[str, Any]) -> None:
        raise StateFileError("pump.state.a: cannot save: I/O error")

    monkeypatch.setattr(wire.durable.file, "save", broken)
    with pytest.raises(StateFileError):
        wire.durable.restore(snapshot)
    assert canonical(wire.device.to_plain()) == after_bolus  # nothing changed
    monkeypatch.undo()
    wire.durable.restore(snapshot)
    assert canonical(wire.device.to_plain()) == canonical(snapshot)
    assert canonical(on_disk(tmp_path)) == canonical(snapshot)
    refused = wire.ask(GetStatus())
    assert isinstance(refused, ErrorReply)
    assert refused.reason is Reason.UNKNOWN_SESSION


def test_options_that_would_change_a_loaded_pump_are_refused(tmp_path: Path) -> None:
    durable_wire(tmp_path, Clock())
    path = tmp_path / "pump.state"
    with pytest.raises(StateFileError) as error:
        open_state(path, reset=False, given=("--fill-ml", "--serial-number"))
    assert str(error.value) == (
        f"--fill-ml, --serial-number would change the pump loaded from {path}.a (sequence 1): "
        "drop them, or add --reset-state to start afresh"
    )
    reset = open_state(path, reset=True, given=("--fill-ml",))
    assert reset.loaded is None
    assert reset.notes == (f"{path}: --reset-state: the saved pump (sequence 1) is replaced",)
    reset.file.unlock()
    opened = open_state(path, reset=False)
    assert opened.loaded is not None
    device = resumed_device(opened.loaded, KEYS)
    assert device.identity.serial_number == "T-STATE"
    opened.file.unlock()


def test_no_valid_generation_is_an_error_unless_reset(tmp_path: Path) -> None:
    path = tmp_path / "pump.state"
    (tmp_path / "pump.state.a").write_text("not a state\n")
    with pytest.raises(StateFileError, match="no valid saved state"):
        open_state(path, reset=False)
    opened = open_state(path, reset=True)
    assert opened.loaded is None
    opened.file.unlock()


def test_catch_up_runs_simulated_time_through_the_downtime(tmp_path: Path) -> None:
    durable_wire(tmp_path, Clock())
    loaded = StateFile(tmp_path / "pump.state").load()
    assert loaded is not None
    later = loaded.saved_unix_us + 60 * US_PER_S
    assert start_time_us(loaded, 5, 10.0, catch_up=True, now_unix_us=lambda: later) == (
        5 + 600 * US_PER_S
    )
    assert start_time_us(loaded, 5, 10.0, catch_up=False, now_unix_us=lambda: later) == 5
    assert start_time_us(None, 5, 10.0, catch_up=True) == 5
    earlier = loaded.saved_unix_us - US_PER_S  # a wall clock set back: no time runs backwards
    assert start_time_us(loaded, 5, 10.0, catch_up=True, now_unix_us=lambda: earlier) == 5
