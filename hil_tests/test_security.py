"""The threat model of docs/protocol.md (section 12), on the wire: a replay runs nothing,
a role does only what it may, and the key-verification budget backs off as specified.

Requests a role may not send are built so that a pump that skipped the role check would
still have changed nothing (a stop without its confirmation word, a bolus of 0 ug...): the
role is checked first (docs/protocol.md, section 2, check 11), so the answer must be
FORBIDDEN, and nothing else must happen to a device the suite may be running on.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator

import pytest

from hil_tests.expect import log_mark, log_since
from hil_tests.link_log import LinkLog
from hil_tests.plugin import DeviceUnderTest
from hil_tests.wire_helpers import answer_to, inactive_alarm, switch_role, therapy
from programmer import DeviceRefused, Programmer
from programmer.client import continuous
from programmer.errors import KeyProblem
from programmer.keys import load_keyring
from protocol import (
    CHANGING,
    NO_DIGEST,
    AckAlarm,
    Bolus,
    CommitPrescription,
    Committed,
    ErrorReply,
    GetAlarms,
    GetClock,
    GetLimits,
    GetPrescription,
    Message,
    Mode,
    PatientBolus,
    Prime,
    PumpState,
    ReadLog,
    Reason,
    Refill,
    Role,
    SessionAuth,
    SessionChallenge,
    SessionOpen,
    SessionOpened,
    SetClock,
    StagePrescription,
    Start,
    StatusReply,
    Stop,
    WireStep,
    as_stage_request,
)
from rig_control import ControlClient

OPERATOR = "hil-security"
RETRANSMISSION_WINDOW = 8  # K: docs/protocol.md, section 5
RECENT_ENTRIES = 64  # the refusal and the session changes since: a handful of log entries
BUDGET = 100  # key verifications in any 30 s of link time (section 4)
BUDGET_WINDOW_S = 30
RATE_LIMITED_MESSAGE = re.compile(
    rf"^(\d+) s until the next key verification \(at most {BUDGET} in {BUDGET_WINDOW_S} s\)"
)

# Each request as it is sent, built so that an accepted one would still change nothing:
# numbers outside their ranges (checked after the role), nothing staged, an alarm that is not
# active. None: no such form exists for this pump's state (a START to a stopped pump).
Harmless = Callable[[StatusReply], Message | None]
PROGRAMMING: dict[str, Harmless] = {
    "COMMIT_PRESCRIPTION": lambda s: CommitPrescription(secrets.token_bytes(16), 0),
    "BOLUS": lambda s: Bolus(0, 600),
    "PRIME": lambda s: Prime(2_000_000),  # above the 1 mL a priming bolus may be
    "STOP": lambda s: Stop(0),  # no confirmation word
    "START": lambda s: None if s.state is PumpState.STOPPED else Start(),
    "REFILL": lambda s: Refill(0, s.concentration_ug_per_ml, 0, NO_DIGEST),
    "ACK_ALARM": lambda s: AckAlarm(inactive_alarm(s)),
    "SET_CLOCK": lambda s: SetClock(0),  # before 2000
}
READ_ONLY_READS = (GetPrescription(), GetAlarms(), ReadLog(0, 1), GetClock(), GetLimits())


@pytest.fixture
def read_only(device: DeviceUnderTest, link_log: LinkLog) -> Iterator[Programmer]:
    """A programmer in a read-only session (it replaces any other)."""
    try:
        programmer = device.programmer(Role.READ_ONLY, trace=link_log.trace)
    except KeyProblem as exc:
        pytest.skip(f"no read-only key: {exc}")
    with programmer:
        yield programmer


@pytest.fixture(params=[Role.PATIENT, Role.READ_ONLY], ids=lambda role: role.label)
def restricted(request: pytest.FixtureRequest) -> Programmer:
    """A session in a role that may not program: one key verification per test."""
    role: Role = request.param
    programmer: Programmer = request.getfixturevalue(
        "patient" if role is Role.PATIENT else "read_only"
    )
    return programmer


def _seen(programmer: Programmer) -> tuple[object, ...]:
    """What a role may read of the therapy: the status (and the prescription, if allowed)."""
    status = programmer.status()
    seen: tuple[object, ...] = (
        status.state,
        status.mode,
        status.dose_ug_per_day,
        status.rate_nl_per_day,
        status.concentration_ug_per_ml,
        status.basal_on,
    )
    if programmer.link.connection.session_role is Role.READ_ONLY:
        seen += (programmer.prescription(),)
    return seen


def _change(programmer: Programmer) -> StagePrescription:
    """A real change to what is in force: 10 ug/day more, continuous."""
    status = programmer.status()
    if status.mode is Mode.NONE:
        pytest.skip("nothing is programmed to change")
    dose = status.dose_ug_per_day + 10
    if programmer.link.connection.session_role is Role.READ_ONLY:
        return continuous(programmer.prescription(), dose)
    # A patient cannot read the prescription; the change is made up from the status.
    return StagePrescription(Mode.CONTINUOUS, (WireStep(0, dose),), 0, 0, 0, 0, 2_000)


def _forbidden(programmer: Programmer, request: Message) -> None:
    link = programmer.link
    send = link.transact_changing if request.TYPE in CHANGING else link.transact
    with pytest.raises(DeviceRefused) as refused:
        send(request)
    assert refused.value.reason is Reason.FORBIDDEN, refused.value


@pytest.mark.provokes("FORBIDDEN")
def test_a_role_without_programming_cannot_stage_a_change(
    restricted: Programmer, device: DeviceUnderTest
) -> None:
    # The stage itself is refused, not only the prescription read a programmer does first.
    before = _seen(restricted)
    change = _change(restricted)
    session_id = restricted.link.connection.session_id
    assert session_id is not None
    _forbidden(restricted, change)
    assert _seen(restricted) == before
    if restricted.link.connection.session_role is not Role.READ_ONLY:
        switch_role(restricted, device, Role.READ_ONLY)  # to read the log
    marker = f"req={session_id:08x}:"
    refused = [
        record.detail
        for record in restricted.log_entries(max(0, log_mark(restricted) - RECENT_ENTRIES))
        if record.kind == "refused" and marker in record.detail
    ]
    assert any("request=stage" in d and "reason=forbidden" in d for d in refused), refused


@pytest.mark.provokes("FORBIDDEN")
@pytest.mark.parametrize("name", sorted(PROGRAMMING))
def test_a_role_without_programming_cannot_program(restricted: Programmer, name: str) -> None:
    before = _seen(restricted)
    request = PROGRAMMING[name](restricted.status())
    if request is None:
        pytest.skip(f"{name} has no harmless form for a {before[0]} pump")
    _forbidden(restricted, request)
    assert _seen(restricted) == before  # nothing changed, and what it may read it still may


@pytest.mark.provokes("FORBIDDEN")
def test_a_patient_reads_nothing_but_status(patient: Programmer) -> None:
    for request in READ_ONLY_READS:
        _forbidden(patient, request)
    assert isinstance(patient.status(), StatusReply)


def test_read_only_reads_everything(read_only: Programmer) -> None:
    for request in READ_ONLY_READS:
        assert not isinstance(read_only.link.transact(request), ErrorReply)


@pytest.mark.provokes("FORBIDDEN")
def test_read_only_cannot_give_a_patient_bolus(read_only: Programmer) -> None:
    if read_only.prescription().patient_dose_ug:  # else a pump that skipped the role check
        pytest.skip("patient boluses are programmed")  # would give one
    before = _seen(read_only)
    _forbidden(read_only, PatientBolus())
    assert _seen(read_only) == before


@pytest.mark.changes_therapy
def test_a_replayed_commit_runs_once(pump: Programmer, device: DeviceUnderTest) -> None:
    """A captured, signed changing request replayed later is never executed: after the
    retransmission window it gets no answer at all; in a later session, UNKNOWN_SESSION."""
    current = pump.prescription()
    if current.mode is Mode.NONE or pump.status().state not in (
        PumpState.STOPPED,
        PumpState.INFUSING,
    ):
        pytest.skip("needs a programmed pump, stopped or infusing")
    before = therapy(pump)
    since = log_mark(pump)
    staged = pump.stage(as_stage_request(current))  # what is in force: no change to therapy
    commit = pump.link.connection.prepare(CommitPrescription(staged.digest, 0))
    pump.link.send_raw(commit.data)
    assert isinstance(pump.link.wait_for_reply(commit.seq), Committed)
    for _ in range(RETRANSMISSION_WINDOW):  # newer requests push it out of the window
        pump.status()
    assert answer_to(pump.link, commit.data, commit.seq) is None
    switch_role(pump, device, Role.CLINICIAN)  # a new session: the captured one is over
    replayed = answer_to(pump.link, commit.data, commit.seq)
    assert isinstance(replayed, ErrorReply)
    assert replayed.reason is Reason.UNKNOWN_SESSION
    name = f"req={commit.session_id:08x}:{commit.counter}"
    ran = [r for r in log_since(pump, since) if r.kind == "programmed" and name in r.detail]
    assert len(ran) == 1, ran
    assert therapy(pump) == before


def test_no_answer_is_told_from_an_answer(pump: Programmer) -> None:
    # The proof behind "no answer" above: a request that is answered is seen answered.
    outgoing = pump.link.connection.prepare(ReadLog(0, 1))
    assert answer_to(pump.link, outgoing.data, outgoing.seq) is not None


def _rate_limited_wait_s(message: str) -> int:
    match = RATE_LIMITED_MESSAGE.match(message)
    assert match, f"RATE_LIMITED message does not begin with the seconds to wait: {message!r}"
    return int(match.group(1))


@pytest.mark.needs_control
@pytest.mark.provokes("RATE_LIMITED", "AUTH_FAILED", "UNKNOWN_CHALLENGE")
@pytest.mark.timeout(180)
def test_key_verification_back_off(
    link: Programmer, device: DeviceUnderTest, rig: ControlClient
) -> None:
    """At most 100 proofs in any 30 s of link time, right or wrong; then RATE_LIMITED, which
    costs nothing, keeps the challenge and names the wait; after it, the right key opens a
    session on that very challenge. No lockout (docs/protocol.md, section 4)."""
    assert link.identity is not None
    serial = link.identity.serial_number
    keyring = load_keyring(serial, device.key_file)
    clinician = keyring.keys.get(Role.CLINICIAN)
    if clinician is None:
        pytest.skip("the key file holds no clinician key")
    connection = link.link.connection
    rig.link_advance(f"{BUDGET_WINDOW_S + 1}s")  # a whole budget: older proofs leave the window
    try:
        started = time.monotonic()
        failed = 0
        while True:
            opening = SessionOpen(Role.CLINICIAN, secrets.token_bytes(16), OPERATOR)
            challenge = link.link.transact(opening)
            assert isinstance(challenge, SessionChallenge)
            with pytest.raises(DeviceRefused) as refused:
                link.link.transact(SessionAuth(challenge.session_id, secrets.token_bytes(16)))
            if refused.value.reason is Reason.RATE_LIMITED:
                break
            assert refused.value.reason is Reason.AUTH_FAILED
            failed += 1
            assert failed <= 3 * BUDGET, "no RATE_LIMITED after three budgets of proofs"
        spent_s = time.monotonic() - started
        if spent_s < BUDGET_WINDOW_S - 5:  # a machine stalled for half a minute proves less
            assert failed == BUDGET
        wait_s = _rate_limited_wait_s(refused.value.message)
        assert 1 <= wait_s <= BUDGET_WINDOW_S

        # Limited: the right key too is not looked at; a challenge is still given, and a
        # proof for no challenge is UNKNOWN_CHALLENGE (that costs nothing either).
        opening = connection.begin_session(Role.CLINICIAN, clinician, serial, OPERATOR)
        challenge = link.link.transact(opening)
        assert isinstance(challenge, SessionChallenge)
        proof = connection.answer_challenge(challenge)
        with pytest.raises(DeviceRefused) as refused:
            link.link.transact(proof)
        assert refused.value.reason is Reason.RATE_LIMITED
        with pytest.raises(DeviceRefused) as refused:
            link.link.transact(SessionAuth(0, bytes(16)))
        assert refused.value.reason is Reason.UNKNOWN_CHALLENGE

        # The wait it named, on the link's clock: the same challenge, the right key, a session.
        rig.link_advance(f"{_rate_limited_wait_s(_last_wait(link, proof))}s")
        opened = link.link.transact(proof)
        assert isinstance(opened, SessionOpened)
        assert connection.session_role is Role.CLINICIAN
        assert isinstance(link.status(), StatusReply)
    finally:
        rig.link_advance(f"{BUDGET_WINDOW_S + 1}s")  # the next test finds a whole budget


def _last_wait(link: Programmer, proof: SessionAuth) -> str:
    """The wait the pump names now for this proof (still refused: nothing was spent)."""
    with pytest.raises(DeviceRefused) as refused:
        link.link.transact(proof)
    assert refused.value.reason is Reason.RATE_LIMITED
    return refused.value.message
