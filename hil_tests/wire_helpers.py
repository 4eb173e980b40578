"""Small tools for tests that look at exactly what the pump answers: roles on one link, raw
refusals, and proof that a frame got no answer at all."""

from __future__ import annotations

import pytest

from hil_tests.frames import resealed
from hil_tests.plugin import DeviceUnderTest
from programmer import Programmer
from programmer.errors import KeyProblem
from programmer.keys import load_keyring
from programmer.link import Link
from protocol import (
    AlarmCode,
    ErrorReply,
    Hello,
    HelloReply,
    Message,
    PrescriptionReply,
    PumpState,
    Reason,
    Role,
    StatusReply,
)
from protocol.stuffing import END_BYTE, unstuff


def switch_role(programmer: Programmer, device: DeviceUnderTest, role: Role) -> None:
    """A new session in ``role`` on the same link; it replaces the one open (if any).

    One link keeps the port: the plugin's programmers hold it exclusively. Skips when the key
    file has no key for the role (a lab may hold only some)."""
    identity = programmer.identity or programmer.hello()
    serial = identity.serial_number
    try:
        keyring = load_keyring(serial, device.key_file)
    except KeyProblem as exc:
        pytest.skip(f"no keys for {role.label}: {exc}")
    if role not in keyring.keys:
        pytest.skip(f"the key file holds no {role.label} key")
    programmer.open_session(role, keyring)


def refusal(link: Link, seq: int) -> ErrorReply:
    """The pump's refusal numbered ``seq``, signed or not; fails the test on anything else."""
    reply = link.wait_for_reply(seq)
    assert isinstance(reply, ErrorReply), f"expected a refusal numbered {seq}, got {reply}"
    return reply


def answer_to(link: Link, data: bytes, seq: int) -> Message | None:
    """Send ``data`` (a request numbered ``seq``) and a HELLO in one write, and return the
    answer to ``data``, or None when there was none.

    The pump answers in order, so by the time the HELLO's reply is in, any answer to ``data``
    has arrived: "no answer" is then a fact, not a timeout that a slow machine could fake.
    An answer the programmer drops as a copy of one it took counts as an answer too."""
    barrier = link.connection.prepare(Hello())  # unsigned, answered in a session or not
    dropped = len(link.dropped)
    link.send_raw(data + barrier.data)
    hello = link.wait_for_reply(barrier.seq)
    assert isinstance(hello, HelloReply), f"no answer to a HELLO after the frame: {hello}"
    answer = link.wait_for_reply(seq, timeout_s=0)
    if answer is None and len(link.dropped) > dropped:
        copies = [d for d in link.dropped[dropped:] if d.reason is Reason.REPLAYED]
        assert not copies, f"the pump answered with a copy of an old reply: {copies}"
    return answer


def retagged(frame: bytes) -> bytes:
    """A signed frame with the last bit of its tag flipped and a fresh CRC: a forgery."""
    body = bytearray(unstuff(frame.strip(END_BYTE))[:-2])
    body[-1] ^= 0x01
    return resealed(bytes(body))


def inactive_alarm(status: StatusReply) -> AlarmCode:
    """An alarm the pump does not have now (acknowledging it must be refused)."""
    for code in reversed(AlarmCode):
        if not status.alarms & code.flag:
            return code
    pytest.skip("every alarm is active")


def therapy(pump: Programmer) -> tuple[PrescriptionReply, PumpState, int]:
    """What a refusal must leave as it was: the prescription, the state, whether the basal
    runs (volume and clock move on by themselves)."""
    status = pump.status()
    return pump.prescription(), status.state, status.basal_on
