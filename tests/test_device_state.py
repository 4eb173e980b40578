"""The device as plain data (issue 9): saved and rebuilt, it answers as the original would.

Byte for byte: the original and the rebuilt device get the same programmer bytes, at the same
times, with the same random bytes from the moment of the save, and must send the same bytes
back: retransmissions of the old session's requests, GET_OUTCOME for them, the dose-change
cap's refusal and the patient-bolus lockout, all decided by what was saved.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

import pytest

from emulator import device_state
from emulator.device import EmulatedDevice, Identity
from emulator.state_file import canonical
from firmware_model import Pump, persistence
from firmware_model.units import US_PER_DAY, US_PER_S
from protocol import (
    AlarmNotification,
    Bolus,
    CommitPrescription,
    ErrorReply,
    GetOutcome,
    GetPrescription,
    GetStatus,
    Hello,
    Keyring,
    Message,
    Mode,
    NotificationReceived,
    OutcomeReply,
    OutcomeStatus,
    Outgoing,
    PatientBolus,
    ProgrammerConnection,
    ReadLog,
    Reason,
    ReplyReceived,
    Role,
    SessionClose,
    Staged,
    StagePrescription,
    WireStep,
)
from tests.protocol.pair import seeded

SERIAL = "T-STATE"
KEYS = Keyring.generate(SERIAL, seeded(5))


class Rand:
    """Random bytes from a seed that can be set again: two devices, one stream."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def __call__(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def reseed(self, seed: int) -> None:
        self.rng = random.Random(seed)


@dataclass
class Wire:
    """A programmer talking to a device in memory, every byte the device sent kept."""

    device: EmulatedDevice
    programmer: ProgrammerConnection = field(
        default_factory=lambda: ProgrammerConnection(first_seq=7, random_bytes=seeded(6))
    )
    now_us: int = 0
    sent: list[bytes] = field(default_factory=list)
    notifications: list[Message] = field(default_factory=list)

    def send(self, data: bytes) -> list[Message]:
        out = self.device.receive(data, self.now_us, self.now_us)
        self.sent.append(out)
        self.programmer.receive_data(out)
        replies = []
        for event in self.programmer.events():
            if isinstance(event, ReplyReceived):
                replies.append(event.message)
            elif isinstance(event, NotificationReceived):
                self.notifications.append(event.message)
        return replies

    def call(self, message: Message) -> tuple[Outgoing, Message]:
        outgoing = self.programmer.prepare(message)
        replies = self.send(outgoing.data)
        assert len(replies) == 1, replies
        return outgoing, replies[0]

    def ask(self, message: Message) -> Message:
        return self.call(message)[1]

    def open(self, role: Role = Role.CLINICIAN) -> None:
        self.ask(Hello())
        challenge = self.ask(self.programmer.begin_session(role, KEYS.keys[role], SERIAL, "t"))
        self.ask(self.programmer.answer_challenge(challenge))  # type: ignore[arg-type]
        assert self.programmer.session_role is role

    def close(self) -> None:
        self.ask(SessionClose())
        self.programmer.forget_session()

    def tick(self, now_us: int) -> None:
        self.now_us = now_us
        out = self.device.tick(now_us)
        self.sent.append(out)
        self.programmer.receive_data(out)
        for event in self.programmer.events():
            if isinstance(event, NotificationReceived):
                self.notifications.append(event.message)


def prescription(dose: int, *, patient: bool = True) -> StagePrescription:
    limits = (50, 600, 4 * 3600, 4) if patient else (0, 0, 0, 0)
    return StagePrescription(Mode.CONTINUOUS, (WireStep(0, dose),), *limits, 2_000)


def new_device(random_bytes: Rand) -> EmulatedDevice:
    pump = Pump()
    pump.refill(20_000_000, 500)
    pump.set_dose(200)
    return EmulatedDevice(pump, Identity(serial_number=SERIAL), KEYS, random_bytes=random_bytes)


@dataclass
class History:
    """What the first visit left behind, to be asked about later."""

    commit: Outgoing
    refused_bolus: Outgoing
    bolus: Outgoing
    commit_reply: Message


def first_visit(wire: Wire) -> History:
    """Clinician: 200 -> 250 ug/day with patient limits, a bolus, a bolus refused; then the
    patient's first bolus: what decides the cap, the outcomes and the lockout."""
    wire.now_us = 3_600 * US_PER_S
    wire.open()
    staged = wire.ask(prescription(250))
    assert isinstance(staged, Staged)
    commit, committed = wire.call(CommitPrescription(staged.digest))
    bolus, _ = wire.call(Bolus(100, 1_800))
    refused, refusal = wire.call(Bolus(60_000, 1_800))
    assert isinstance(refusal, ErrorReply)
    wire.close()
    wire.now_us += 4 * 3_600 * US_PER_S
    wire.open(Role.PATIENT)
    assert not isinstance(wire.ask(PatientBolus()), ErrorReply)
    wire.close()
    wire.now_us += 60 * US_PER_S
    return History(commit, refused, bolus, committed)


def second_visit(wire: Wire, history: History) -> list[Message]:
    """Everything after the save: each answer depends on what was saved."""
    answers: list[Message] = []
    # The old session's commit, retransmitted: the session is gone (unsigned refusal).
    answers += wire.send(history.commit.data)
    wire.open(Role.PATIENT)
    answers.append(wire.ask(PatientBolus()))  # within the lockout of the first
    wire.close()
    wire.now_us += 30 * US_PER_S
    wire.open()
    for earlier in (history.commit, history.bolus, history.refused_bolus):
        answers.append(wire.ask(GetOutcome(earlier.session_id, earlier.counter, earlier.tag)))
    commit = history.commit
    answers.append(wire.ask(GetOutcome(commit.session_id, commit.counter + 50, commit.tag)))
    answers.append(wire.ask(prescription(350)))  # above 1.4 x 200, the lowest in 24 h
    answers.append(wire.ask(GetStatus()))
    answers.append(wire.ask(GetPrescription()))
    answers.append(wire.ask(ReadLog(0, 8)))
    wire.tick(wire.now_us + 45 * US_PER_DAY)  # low reservoir: a notification in the session
    answers.append(wire.ask(GetStatus()))
    return answers


def saved_and_rebuilt(device: EmulatedDevice, random_bytes: Rand) -> EmulatedDevice:
    """Through canonical JSON text, as a state file holds it."""
    plain = json.loads(canonical(device.to_plain()))
    return EmulatedDevice.from_plain(plain, KEYS, random_bytes=random_bytes)


def test_a_rebuilt_device_answers_byte_for_byte_as_the_original() -> None:
    original_random, rebuilt_random = Rand(1), Rand(0)
    original = Wire(new_device(original_random))
    history = first_visit(original)
    rebuilt = Wire(saved_and_rebuilt(original.device, rebuilt_random), now_us=original.now_us)
    # From the save on: the same programmer, and the same random bytes in both pumps.
    rebuilt.programmer = ProgrammerConnection(first_seq=900, random_bytes=seeded(8))
    original.programmer = ProgrammerConnection(first_seq=900, random_bytes=seeded(8))
    original_random.reseed(42)
    rebuilt_random.reseed(42)
    original.sent.clear()

    answers = second_visit(original, history)
    assert second_visit(rebuilt, history) == answers
    assert rebuilt.sent == original.sent  # every byte, signed replies and notifications

    # And the answers are the ones the saved state decides.
    gone, lockout, done, bolus, not_done, not_received, capped, *_ = answers
    assert isinstance(gone, ErrorReply)
    assert gone.reason is Reason.UNKNOWN_SESSION
    assert isinstance(lockout, ErrorReply)
    assert "locked out" in lockout.message
    assert isinstance(done, OutcomeReply)
    assert done.status is OutcomeStatus.DONE
    assert isinstance(bolus, OutcomeReply)
    assert bolus.status is OutcomeStatus.DONE
    assert isinstance(not_done, OutcomeReply)
    assert not_done.status is OutcomeStatus.NOT_DONE
    assert isinstance(not_received, OutcomeReply)
    assert not_received.status is OutcomeStatus.NOT_RECEIVED
    assert isinstance(capped, ErrorReply)
    assert capped.reason is Reason.DOSE_CHANGE_LIMIT
    assert any(isinstance(n, AlarmNotification) for n in rebuilt.notifications)


def test_the_plain_form_round_trips_exactly() -> None:
    wire = Wire(new_device(Rand(1)))
    first_visit(wire)
    plain = wire.device.to_plain()
    assert canonical(saved_and_rebuilt(wire.device, Rand(2)).to_plain()) == canonical(plain)
    assert plain["identity"]["serial_number"] == SERIAL
    pump = plain["pump"]
    assert pump["patient"]["starts_us"]  # the patient-bolus history
    assert pump["dose_window"]["replaced"]  # the dose-change cap's window: 200 then 250
    assert plain["outcomes"]["records"]


def test_restore_closes_the_open_session_and_keeps_the_log_hooks() -> None:
    wire = Wire(new_device(Rand(1)))
    wire.open()
    snapshot = wire.device.to_plain()
    staged = wire.ask(prescription(250))
    assert isinstance(staged, Staged)
    wire.ask(CommitPrescription(staged.digest))
    assert wire.device.pump.status().dose_ug_per_day == 250

    wire.device.restore(snapshot)
    assert wire.device.pump.status().dose_ug_per_day == 200  # the snapshot's pump
    refused = wire.ask(GetStatus())
    assert isinstance(refused, ErrorReply)
    assert refused.reason is Reason.UNKNOWN_SESSION  # the programmer opens another
    wire.programmer.forget_session()
    wire.open()
    revision = wire.device.revision
    wire.tick(45 * US_PER_DAY)  # the alarm reaches the new session through the new log
    assert any(isinstance(n, AlarmNotification) for n in wire.notifications)
    assert wire.device.revision > revision


def test_a_state_of_another_pump_is_refused_and_nothing_changes() -> None:
    wire = Wire(new_device(Rand(1)))
    other = EmulatedDevice(
        Pump(), Identity(serial_number="OTHER"), Keyring.generate("OTHER", seeded(9))
    )
    before = canonical(wire.device.to_plain())
    with pytest.raises(ValueError, match="serial OTHER, this pump is ITBP-20 serial T-STATE"):
        wire.device.restore(other.to_plain())
    assert canonical(wire.device.to_plain()) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 9}, "device state version 9: this emulator reads version 1"),
        ({"format": "x"}, "not an emulated device's state"),
        ({"identity": {}}, "damaged device state"),
    ],
)
def test_a_device_state_from_elsewhere_is_refused_naming_why(
    change: dict[str, object], message: str
) -> None:
    plain = {**Wire(new_device(Rand(1))).device.to_plain(), **change}
    with pytest.raises(device_state.DeviceStateError, match=message):
        EmulatedDevice.from_plain(plain, KEYS)


def test_a_pump_part_of_another_version_names_both_versions() -> None:
    plain = Wire(new_device(Rand(1))).device.to_plain()
    plain["pump"]["version"] = 99
    with pytest.raises(persistence.StateFormatError, match="version 99: this model reads"):
        EmulatedDevice.from_plain(plain, KEYS)


def test_link_noise_does_not_move_the_revision_and_changes_do() -> None:
    wire = Wire(new_device(Rand(1)))
    start = wire.device.revision
    for _ in range(50):
        wire.device.receive(b"\xc0garbage\x00\xff\xc0", 0, 0)
    wire.ask(GetStatus())  # unsigned refusal: no session
    assert wire.device.revision == start
    wire.open()
    opened = wire.device.revision
    assert opened > start  # a session costs battery and is remembered for GET_OUTCOME
    wire.ask(GetStatus())
    assert wire.device.revision == opened
    wire.ask(Bolus(100, 1_800))
    assert wire.device.revision > opened
