"""A campaign goes on after the link gave its session up: it opens one again first, instead
of staging into refusals (faults.session_keeper), through a simulated line."""

from __future__ import annotations

import random

import pytest

from emulator.simulated_line import ManualClock, SimulatedLine
from faults.noisy_link import build_device
from faults.session_keeper import SessionKeeper
from programmer import DeviceRefused, Link, Programmer
from protocol import Reason, Role


def programmer_in_session(seed: int = 3) -> tuple[Programmer, SessionKeeper]:
    device, keys = build_device(seed)
    clock = ManualClock()
    link = Link(
        SimulatedLine(device, clock),
        timeout_s=0.02,
        clock=clock,
        sleep=clock.sleep,
        random_bytes=random.Random(seed).randbytes,
    )
    programmer = Programmer(link, "keeper-test")
    programmer.hello()
    programmer.open_session(Role.CLINICIAN, keys)
    return programmer, SessionKeeper(programmer, keys)


def test_without_a_session_a_request_is_refused_and_the_keeper_opens_one_again() -> None:
    programmer, keeper = programmer_in_session()
    programmer.link.connection.forget_session()  # as the link leaves it when a reopen failed
    with pytest.raises(DeviceRefused) as refused:
        programmer.prescription()
    assert refused.value.reason is Reason.NOT_AUTHENTICATED
    keeper.ensure()
    assert programmer.link.in_session
    assert keeper.reopened == 1
    assert programmer.prescription().steps[0].dose_ug_per_day == 200


def test_a_session_in_place_is_kept() -> None:
    programmer, keeper = programmer_in_session()
    keeper.ensure()
    assert keeper.reopened == 0
    assert programmer.link.in_session
