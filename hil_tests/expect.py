"""What the hazard, therapy and destructive tests expect, and how they look for it.

Sessions opened one at a time (a port has one user), alarm notifications awaited on an open
session, the pump's own log and the rig's ``advance`` events read as plain facts, and the
arithmetic of docs/domain.md in exact fractions, so that a test can state a delivered volume
to the nanolitre and allow only the model's rounding to a whole nanolitre.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from programmer import Programmer
from programmer.link import DEFAULT_BUDGET_S, DEFAULT_RETRIES
from protocol import (
    AlarmCode,
    AlarmNotification,
    LogRecord,
    PumpState,
    Role,
    StagePrescription,
    as_stage_request,
)
from rig_control import ControlClient

NL_PER_UL = 1_000
NL_PER_ML = 1_000_000
NG_PER_UG = 1_000
US_PER_S = 1_000_000
S_PER_HOUR = 3_600
S_PER_DAY = 86_400
US_PER_HOUR = S_PER_HOUR * US_PER_S
US_PER_DAY = S_PER_DAY * US_PER_S
# docs/domain.md, Heat [M]: flow x (1 + k (T - 37 °C)) above 37 °C, k = 0.08 per °C.
BODY_TEMPERATURE_C = 37
HEAT_PER_C = Fraction(8, 100)
# The model integrates in quanta finer than a nanolitre and reports whole nanolitres: a
# difference of two readings is the exact volume to within one nanolitre.
ROUNDING_NL = 1
# Generous on a loaded 2-core machine: a notification is written as soon as the advance ends.
NOTIFICATION_TIMEOUT_S = 10.0
LAST_LOG_INDEX = 0xFFFF_FFFF  # ReadLog.first is a u32: at or past `next`, an empty page


class Device(Protocol):
    """What a test needs of the plugin's device under test (hil_tests/plugin.py)."""

    url: str
    baudrate: int
    reply_timeout_s: float
    key_file: Path | None


class Log(Protocol):
    def trace(self, direction: str, data: bytes) -> None: ...


# -- sessions ----------------------------------------------------------------------------


@contextmanager
def session(
    device: Device,
    log: Log | None = None,
    role: Role = Role.CLINICIAN,
    *,
    timeout_s: float | None = None,
    retries: int = DEFAULT_RETRIES,
    budget_s: float = DEFAULT_BUDGET_S,
    operator: str = "hil-tests",
) -> Iterator[Programmer]:
    """A session of its own on the device, closed on the way out: for tests that need two
    roles or a new interrogation, one after the other (never two programmers on one port)."""
    programmer = Programmer.open(
        device.url,
        role=role,
        key_file=device.key_file,
        baudrate=device.baudrate,
        timeout_s=device.reply_timeout_s if timeout_s is None else timeout_s,
        retries=retries,
        budget_s=budget_s,
        operator=operator,
        trace=None if log is None else log.trace,
    )
    with programmer:
        yield programmer


@contextmanager
def frozen(rig: ControlClient) -> Iterator[ControlClient]:
    """Simulated time stands still but for ``rig.advance``: every volume is then exact. The
    emulator's speed is not part of a snapshot, so it is put back here."""
    speed = rig.state()["speed"]
    rig.call("speed", factor=0)
    try:
        yield rig
    finally:
        rig.call("speed", factor=speed)


@contextmanager
def line_faults(rig: ControlClient, **faults: Any) -> Iterator[None]:
    """Line faults on for the block (docs/control.md ``faults``), off again however it ends:
    faults are the emulator's, not the pump's, so no snapshot restores them."""
    rig.call("faults", **faults)
    try:
        yield
    finally:
        rig.call("faults", off=True)


# -- notifications -----------------------------------------------------------------------


def await_notifications(
    programmer: Programmer,
    wanted: Iterable[tuple[AlarmCode, bool]],
    timeout_s: float = NOTIFICATION_TIMEOUT_S,
) -> list[AlarmNotification]:
    """Every alarm notification the open session receives until each ``(alarm, raised)`` of
    ``wanted`` has come (those read during earlier requests included), in arrival order."""
    missing = set(wanted)
    seen: list[AlarmNotification] = []
    deadline = time.monotonic() + timeout_s  # real time: waiting on the emulator's process
    while missing:
        left = deadline - time.monotonic()
        if left <= 0:
            names = sorted(f"{a.name} {'raised' if r else 'cleared'}" for a, r in missing)
            got = [f"{n.alarm.name} {'raised' if n.raised else 'cleared'}" for n in seen]
            raise AssertionError(f"no notification {names} in {timeout_s:g} s; got {got}")
        for received in programmer.link.listen(left):
            message = received.message
            if isinstance(message, AlarmNotification):
                seen.append(message)
                missing.discard((message.alarm, bool(message.raised)))
    return seen


def notifications_within(programmer: Programmer, wait_s: float = 0.3) -> list[AlarmNotification]:
    """The notifications that came unasked within ``wait_s`` (and those read before)."""
    return [
        n.message
        for n in programmer.link.listen(wait_s)
        if isinstance(n.message, AlarmNotification)
    ]


# -- the rig's events --------------------------------------------------------------------


def events(result: dict[str, Any], kind: str, **detail: object) -> list[dict[str, Any]]:
    """The ``advance`` result's events of ``kind`` whose detail has these values."""
    return [
        event
        for event in result["events"]
        if event["kind"] == kind and all(event["detail"].get(k) == v for k, v in detail.items())
    ]


def times_us(result: dict[str, Any], kind: str, **detail: object) -> list[int]:
    return [event["simulated_time_us"] for event in events(result, kind, **detail)]


def alarm_names(state: dict[str, Any]) -> set[str]:
    return {alarm["alarm"] for alarm in state["alarms"]}


# -- the pump's log ----------------------------------------------------------------------


def log_mark(programmer: Programmer) -> int:
    """The index the pump's next log entry will have: read the log from here later."""
    return programmer.read_log(LAST_LOG_INDEX, 1).next


def log_since(programmer: Programmer, mark: int) -> list[LogRecord]:
    return list(programmer.log_entries(mark))


def detail(record: LogRecord) -> dict[str, str]:
    """A record's ``key=value`` pairs (docs/protocol.md section 10: ``message`` runs to the
    end and is the only value with spaces)."""
    text = record.detail
    values: dict[str, str] = {}
    while text:
        if text.startswith("message="):
            values["message"] = text.removeprefix("message=")
            break
        pair, _, text = text.partition(" ")
        key, _, value = pair.partition("=")
        values[key] = value
    return values


def records(entries: Iterable[LogRecord], kind: str, **wanted: object) -> list[LogRecord]:
    """The entries of ``kind`` whose detail has these values (compared as text)."""
    found = []
    for entry in entries:
        if entry.kind != kind:
            continue
        values = detail(entry)
        if all(values.get(key) == str(value) for key, value in wanted.items()):
            found.append(entry)
    return found


# -- docs/domain.md arithmetic -----------------------------------------------------------


def heat_factor(celsius: float) -> Fraction:
    """docs/domain.md, Heat [M]: 1 + k (T - 37 °C) above body temperature, 1 below."""
    return 1 + HEAT_PER_C * max(Fraction(0), Fraction(celsius) - BODY_TEMPERATURE_C)


def volume_nl(rate_nl_per_day: int | Fraction, duration_us: int) -> Fraction:
    return Fraction(rate_nl_per_day) * duration_us / US_PER_DAY


def mass_ng(volume: int | Fraction, concentration_ug_per_ml: int) -> Fraction:
    """Drug in a volume: 1 nL of C ug/mL holds C / 1000 ng (docs/domain.md, rate from dose)."""
    return Fraction(volume) * concentration_ug_per_ml * NG_PER_UG / NL_PER_ML


def rate_nl_per_day(dose_ug_per_day: int, concentration_ug_per_ml: int) -> Fraction:
    """docs/domain.md [S]: rate (mL/day) = dose (ug/day) / concentration (ug/mL)."""
    return Fraction(dose_ug_per_day * NL_PER_ML, concentration_ug_per_ml)


def close_to(actual: int | Fraction, expected: int | Fraction, within: int = ROUNDING_NL) -> bool:
    difference = Fraction(actual) - Fraction(expected)
    return -within <= difference <= within


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll a condition on a real process (the emulator) until it holds."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.01)


# -- therapy, put back -------------------------------------------------------------------


def put_back(programmer: Programmer, before: StagePrescription, state: PumpState) -> None:
    """Program ``before`` again if it changed, then stop or start the pump as it was, and
    check both: what a therapy test owes the next one (returning to a dose in force within
    the day is always allowed, docs/protocol.md section 9)."""
    if as_stage_request(programmer.prescription()) != before:
        programmer.program(before)
    now = programmer.status().state
    if state is PumpState.INFUSING and now is PumpState.STOPPED:
        programmer.start()
    elif state is PumpState.STOPPED and now is PumpState.INFUSING:
        programmer.stop(confirm_withdrawal_risk=True)
    assert as_stage_request(programmer.prescription()) == before
    assert programmer.status().state is state
