"""The emulated device end to end without a port: programmer bytes in, pump bytes out."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from emulator.device import EmulatedDevice, Identity
from firmware_model import Pump
from firmware_model.units import US_PER_DAY, US_PER_S
from protocol import (
    NO_DIGEST,
    NOT_MEASURED,
    STOP_CONFIRMATION,
    AckAlarm,
    AlarmCode,
    AlarmFlags,
    AlarmNotification,
    Bolus,
    BolusReply,
    CommitPrescription,
    Committed,
    ErrorReply,
    GetStatus,
    Hello,
    HelloReply,
    Keyring,
    LogBurstPage,
    Message,
    Mode,
    NotificationReceived,
    PatientBolus,
    ProgrammerConnection,
    PumpState,
    ReadLog,
    Reason,
    Refill,
    RefillReply,
    ReplyReceived,
    Role,
    Staged,
    StagePrescription,
    StatusReply,
    Stop,
    WireStep,
)
from protocol.frame import frame_body, seal
from protocol.messages import encode_payload
from tests.protocol.pair import seeded

SERIAL = "T-1"
KEYS = Keyring.generate(SERIAL, seeded(5))


@dataclass
class Session:
    device: EmulatedDevice
    programmer: ProgrammerConnection = field(
        default_factory=lambda: ProgrammerConnection(first_seq=7, random_bytes=seeded(6))
    )
    now_us: int = 0
    link_us: int = 0  # the link's own time (idle timeouts, the verification budget)
    notifications: list[Message] = field(default_factory=list)
    signed: bool = False  # whether the last reply carried the session's tag

    def ask(self, message: Message) -> Message:
        seq, data = self.programmer.request(message)
        self.programmer.receive_data(self.device.receive(data, self.now_us, self.link_us))
        replies = []
        for event in self.programmer.events():
            if isinstance(event, ReplyReceived) and event.seq == seq:
                replies.append(event.message)
                self.signed = event.authenticated
            elif isinstance(event, NotificationReceived):
                self.notifications.append(event.message)
        if len(replies) > 1:  # READ_LOG_PAGES: one burst, every page of it, in order
            assert all(isinstance(r, LogBurstPage) for r in replies), replies
            assert [r.page for r in replies] == list(range(len(replies)))  # type: ignore[attr-defined]
            assert replies[-1].last  # type: ignore[attr-defined]
        assert replies
        return replies[0]

    def open(self, role: Role = Role.CLINICIAN) -> None:
        assert isinstance(self.ask(Hello()), HelloReply)
        challenge = self.ask(self.programmer.begin_session(role, KEYS.keys[role], SERIAL, "tester"))
        self.ask(self.programmer.answer_challenge(challenge))  # type: ignore[arg-type]
        assert self.programmer.session_role is role

    def tick(self, now_us: int) -> None:
        self.now_us = now_us
        self.programmer.receive_data(self.device.tick(now_us))
        for event in self.programmer.events():
            if isinstance(event, NotificationReceived):
                self.notifications.append(event.message)


def session(role: Role = Role.CLINICIAN) -> Session:
    pump = Pump()
    pump.refill(20_000_000, 500)
    pump.set_dose(200)
    s = Session(EmulatedDevice(pump, Identity(serial_number=SERIAL), KEYS))
    s.open(role)
    return s


def continuous(dose: int, low_ul: int = 2_000) -> StagePrescription:
    return StagePrescription(Mode.CONTINUOUS, (WireStep(0, dose),), 0, 0, 0, 0, low_ul)


def test_status_reflects_the_model_at_the_time_asked() -> None:
    s = session()
    s.now_us = 45 * US_PER_DAY  # docs/domain.md worked example: low reservoir at 45 days
    reply = s.ask(GetStatus())
    assert isinstance(reply, StatusReply)
    assert reply.state is PumpState.INFUSING
    assert reply.alarms == AlarmFlags.LOW_RESERVOIR
    assert reply.reservoir_ul == 2_000
    # 18 mL pumped at 500 ug/mL, less 0.2 mL that filled the unprimed catheter [M].
    assert reply.infused_ug == 8_900


def test_two_step_programming_commits_only_the_staged_digest() -> None:
    s = session()
    staged = s.ask(continuous(250))
    assert isinstance(staged, Staged)
    assert s.device.pump.status().dose_ug_per_day == 200  # staging changes nothing
    wrong = s.ask(CommitPrescription(bytes(16)))
    assert isinstance(wrong, ErrorReply)
    assert wrong.reason is Reason.DIGEST_MISMATCH
    committed = s.ask(CommitPrescription(staged.digest))
    assert committed == Committed(PumpState.INFUSING, 500_000)
    again = s.ask(CommitPrescription(staged.digest))
    assert isinstance(again, ErrorReply)
    assert again.reason is Reason.NOTHING_STAGED


@pytest.mark.parametrize(
    ("dose", "reason"), [(5_000, Reason.DRUG_LIMIT), (400, Reason.DOSE_CHANGE_LIMIT)]
)
def test_staging_refuses_what_commit_would(dose: int, reason: Reason) -> None:
    s = session()
    refused = s.ask(continuous(dose))
    assert isinstance(refused, ErrorReply)
    assert refused.reason is reason
    assert s.device.pump.status().dose_ug_per_day == 200


def test_staging_refuses_a_patient_bolus_the_motor_could_not_deliver() -> None:
    # 10 ug over 60 s at 500 ug/mL is 20 uL a minute: 28.8 mL/day, above the 24 mL/day the
    # motor can do (docs/protocol.md, section 9). Version 1 staged and committed it, then
    # refused it at every press of the patient's button.
    s = session()
    too_fast = StagePrescription(Mode.CONTINUOUS, (WireStep(0, 200),), 10, 60, 3_600, 4, 2_000)
    refused = s.ask(too_fast)
    assert isinstance(refused, ErrorReply)
    assert refused.reason is Reason.VALUE_OUT_OF_RANGE
    assert "28.8 mL/day" in refused.message
    assert "0.048..24 mL/day" in refused.message
    assert s.device.pump.patient_limits is None
    slow_enough = StagePrescription(Mode.CONTINUOUS, (WireStep(0, 200),), 10, 120, 3_600, 4, 2_000)
    assert isinstance(s.ask(slow_enough), Staged)


def test_retransmitted_bolus_is_delivered_once() -> None:
    s = session()
    seq, data = s.programmer.request(Bolus(50, 1800))
    first = s.device.receive(data, 0)
    again = s.device.receive(data, US_PER_S)
    assert again == first
    starts = [e for e in s.device.pump.log if e.kind == "bolus_started"]
    assert len(starts) == 1
    assert s.device.counters.retransmissions == 1
    del seq


def test_bolus_reply_figures() -> None:
    s = session()
    assert s.ask(Bolus(50, 1800)) == BolusReply(100_000, 4_800_000, 1800)


def test_stop_needs_the_confirmation_word() -> None:
    s = session()
    refused = s.ask(Stop(1))
    assert isinstance(refused, ErrorReply)
    assert refused.reason is Reason.CONFIRMATION_REQUIRED
    assert s.device.pump.state == "infusing"
    s.ask(Stop(STOP_CONFIRMATION))
    assert s.device.pump.state == "stopped"


def test_refill_with_new_concentration_needs_staged_dose() -> None:
    s = session()
    refused = s.ask(Refill(20_000_000, 1000, NOT_MEASURED, NO_DIGEST, "baclofen"))
    assert isinstance(refused, ErrorReply)
    assert refused.reason is Reason.DOSE_REENTRY_REQUIRED
    staged = s.ask(continuous(200))
    assert isinstance(staged, Staged)
    reply = s.ask(Refill(20_000_000, 1000, 19_900_000, staged.digest, "baclofen"))
    assert isinstance(reply, RefillReply)
    assert reply.expected_nl == 20_000_000
    assert reply.discrepancy_nl == -100_000
    status = s.ask(GetStatus())
    assert isinstance(status, StatusReply)
    assert (status.concentration_ug_per_ml, status.rate_nl_per_day) == (1000, 200_000)


def test_patient_cannot_program_but_can_bolus_within_limits() -> None:
    s = session(Role.PATIENT)
    refused = s.ask(continuous(250))
    assert isinstance(refused, ErrorReply)
    assert refused.reason is Reason.FORBIDDEN
    not_permitted = s.ask(PatientBolus())
    assert isinstance(not_permitted, ErrorReply)
    assert not_permitted.reason is Reason.NOT_PERMITTED
    assert s.device.pump.status().dose_ug_per_day == 200


def test_alarm_notifications_reach_the_open_session() -> None:
    s = session()
    s.tick(45 * US_PER_DAY)
    assert s.notifications == [
        AlarmNotification(
            AlarmCode.LOW_RESERVOIR, 1, s.device.pump.clock_us // US_PER_S, AlarmFlags.LOW_RESERVOIR
        )
    ]
    silenced = s.ask(AckAlarm(AlarmCode.LOW_RESERVOIR))
    assert [a.silenced for a in silenced.alarms] == [1]  # type: ignore[attr-defined]


def test_refusals_of_every_kind_reach_the_audit_log() -> None:
    s = session()
    s.device.receive(b"\xc0garbage\xdb\xc0", 0)
    s.ask(Stop(0))
    log = s.device.pump.log
    link = [e.detail["reason"] for e in log if e.kind == "link_refused"]
    clinical = [e.detail for e in log if e.kind == "refused"]
    assert link == ["bad_framing"]  # anyone's noise: a link record
    assert [(r["reason"], r["by"]) for r in clinical] == [("confirmation_required", "tester")]


def test_event_log_pages() -> None:
    s = session()
    page = s.ask(ReadLog(0, 3))
    assert page.entries[0].index == page.oldest  # type: ignore[attr-defined]
    assert len(page.entries) == 3  # type: ignore[attr-defined]


def test_key_file_for_another_pump_is_refused() -> None:
    with pytest.raises(ValueError, match="key file is for"):
        EmulatedDevice(Pump(), Identity(serial_number="OTHER"), KEYS)


def test_attacks_and_noise_never_change_or_pause_delivery() -> None:
    quiet = session()
    noisy = session()
    hour = 3_600 * US_PER_S
    replayed = noisy.programmer.request(GetStatus())[1]
    noisy.ask(GetStatus())
    # An unsigned, confirmed stop: what an attacker without the key would send.
    forged_stop = seal(frame_body(0, 5, Stop.TYPE, encode_payload(Stop(STOP_CONFIRMATION))))
    for n in range(1, 49):
        noisy.device.receive(b"\xc0" + bytes(range(256)) * 3 + b"\xdb\xc0", n * hour, 0)
        noisy.device.receive(replayed, n * hour + 1, 0)  # a replay, refused every time
        noisy.device.receive(forged_stop, n * hour + 2, 0)
        quiet.tick(n * hour + 2)
    assert noisy.device.pump.accounts() == quiet.device.pump.accounts()
    assert noisy.device.pump.state == quiet.device.pump.state == "infusing"
