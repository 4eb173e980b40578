"""No request can crash or wedge the emulator (issue 7, point 6).

Version 1 accepted an authenticated SET_CLOCK of 2^64-1, and the emulator exited at the next
alarm notification. Here every field of every request takes random values, boundaries
included, between random advances of simulated time (so alarms fire and notifications go
out), and after each step nothing has raised and the pump still answers, signed.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.device import EmulatedDevice, Identity
from firmware_model import Pump
from firmware_model.pump import MAX_CLOCK_S, MIN_CLOCK_S
from firmware_model.units import US_PER_DAY, US_PER_S
from protocol import (
    NO_DIGEST,
    NOT_MEASURED,
    Bolus,
    ErrorReply,
    GetOutcome,
    Kind,
    Message,
    Mode,
    Prime,
    ReadLog,
    Reason,
    Refill,
    SetClock,
    StagePrescription,
    StatusReply,
    WireStep,
    all_message_classes,
)
from protocol.messages import GetStatus, MessageType
from protocol.roles import UNAUTHENTICATED
from tests.protocol.strategies import message_strategy
from tests.test_emulated_device import KEYS, SERIAL, Session

# Every request a clinician session may send, but the two that end it or open another.
REQUESTS = [
    cls
    for cls in all_message_classes()
    if cls.KIND is Kind.REQUEST
    and cls.TYPE not in UNAUTHENTICATED
    and cls.TYPE != MessageType.SESSION_CLOSE
]
# How a refusal states what is allowed: "1..255", "one of 0, 1, 2", "exactly 1 step".
RANGE_WORDS = ("..", "one of", "exactly", "needs the other")
# Requests near their limits, so the checks behind the first ones are reached too (random
# 32-bit fields rarely pass a drug library's limits).
NEAR_VALID = st.one_of(
    st.builds(
        StagePrescription,
        mode=st.sampled_from(list(Mode)),
        steps=st.lists(
            st.builds(WireStep, st.integers(0, 90_000), st.integers(0, 1_200)), max_size=25
        ).map(tuple),
        patient_dose_ug=st.integers(0, 250),
        patient_duration_s=st.integers(0, 90_000),
        patient_lockout_s=st.integers(0, 90_000),
        patient_max_per_day=st.integers(0, 30),
        low_reservoir_ul=st.integers(0, 41_000),
    ),
    st.builds(Bolus, st.integers(0, 250), st.integers(0, 90_000)),
    st.builds(Prime, st.integers(0, 1_100_000)),
    st.builds(
        Refill,
        st.integers(0, 41_000_000),
        st.integers(0, 2_500),
        st.one_of(st.integers(0, 41_000_000), st.just(NOT_MEASURED)),
        st.just(NO_DIGEST),
        st.sampled_from(["baclofen", "morphine", ""]),
    ),
    st.builds(SetClock, st.integers(MIN_CLOCK_S - 2, MAX_CLOCK_S + 2)),
)
STEP = st.one_of(
    st.integers(0, 90 * US_PER_DAY).map(lambda us: ("advance", us)),
    st.sampled_from(REQUESTS).flatmap(message_strategy).map(lambda m: ("request", m)),
    NEAR_VALID.map(lambda m: ("request", m)),
)


def fresh() -> Session:
    pump = Pump()
    pump.set_clock(1_795_000_000 * US_PER_S)
    pump.refill(6_000_000, 500)  # low enough that time soon raises alarms
    pump.set_dose(200)
    s = Session(EmulatedDevice(pump, Identity(serial_number=SERIAL), KEYS))
    s.open()
    return s


def test_a_clock_of_two_to_the_64_is_refused_with_its_range() -> None:
    s = fresh()
    before = s.device.pump.clock_us
    reply = s.ask(SetClock(2**64 - 1))
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.VALUE_OUT_OF_RANGE
    assert f"{MIN_CLOCK_S}..{MAX_CLOCK_S}" in reply.message
    assert s.device.pump.clock_us == before
    s.tick(s.device.pump.t_us + 60 * US_PER_DAY)  # alarms, notifications: still alive
    assert isinstance(s.ask(GetStatus()), StatusReply)


@pytest.mark.parametrize("clock_s", [MIN_CLOCK_S, MAX_CLOCK_S])
def test_the_clock_range_is_inclusive(clock_s: int) -> None:
    s = fresh()
    assert not isinstance(s.ask(SetClock(clock_s)), ErrorReply)
    s.tick(s.device.pump.t_us + 400 * US_PER_DAY)  # years past the end: nothing overflows
    assert isinstance(s.ask(GetStatus()), StatusReply)


def test_a_flex_schedule_with_no_steps_is_out_of_range_even_with_patient_limits() -> None:
    # Found by an attack: the patient-bolus check ran over no steps and raised inside.
    empty = StagePrescription(Mode.FLEX, (), 10, 900, 900, 1, 2_000)
    reply = fresh().ask(empty)
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.VALUE_OUT_OF_RANGE
    assert "1..24" in reply.message


def test_a_log_page_of_zero_entries_is_out_of_range() -> None:
    reply = fresh().ask(ReadLog(0, 0))
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.VALUE_OUT_OF_RANGE
    assert "1..255" in reply.message


@pytest.mark.timeout(300)
@settings(
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEP, min_size=1, max_size=12))
def test_random_well_formed_requests_never_crash_or_wedge_the_pump(
    steps: list[tuple[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    s = fresh()
    caplog.clear()
    for action, value in steps:
        if action == "advance":
            assert isinstance(value, int)
            s.tick(s.device.pump.t_us + value)  # alarms fire, notifications go out
        else:
            assert isinstance(value, Message)
            reply = s.ask(value)
            if isinstance(reply, ErrorReply):
                assert reply.reason is not Reason.INTERNAL_ERROR, reply
                if reply.reason is Reason.VALUE_OUT_OF_RANGE and not isinstance(value, GetOutcome):
                    assert any(word in reply.message for word in RANGE_WORDS), reply
        assert isinstance(s.ask(GetStatus()), StatusReply)
        assert s.signed
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.timeout(300)
@settings(max_examples=1_500, suppress_health_check=[HealthCheck.too_slow])
@given(request=NEAR_VALID)
def test_requests_near_their_limits_get_a_real_answer(request: Message) -> None:
    s = fresh()
    reply = s.ask(request)
    assert s.signed
    if isinstance(reply, ErrorReply):
        assert reply.reason is not Reason.INTERNAL_ERROR, reply
    assert isinstance(s.ask(GetStatus()), StatusReply)
