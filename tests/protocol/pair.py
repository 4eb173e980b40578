"""Both ends of the link wired together in memory, deterministic: no port, no clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from protocol import (
    ErrorReply,
    Hello,
    HelloReply,
    Keyring,
    Message,
    ProgrammerConnection,
    ProgrammerEvent,
    PumpConnection,
    PumpEvent,
    ReplyReceived,
    RequestReceived,
    Role,
    StatusReply,
)

SERIAL = "TEST0001"
OPERATOR = "tester@bench"


def seeded(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return rng.randbytes


KEYRING = Keyring.generate(SERIAL, seeded(1))


def status() -> StatusReply:
    from protocol import AlarmFlags, Mode, PumpState

    return StatusReply(
        PumpState.INFUSING, Mode.CONTINUOUS, AlarmFlags.NONE, AlarmFlags.NONE,
        200, 400_000, 400_000, 500, 19_000, 5, 999_000, 37_000, 1_700_000_000, 1, 0,
    )  # fmt: skip


def default_app(event: RequestReceived) -> Message:
    if isinstance(event.message, Hello):
        return HelloReply("TEST", SERIAL, "1.0.0", 1, 1, 1)
    return status()


@dataclass
class Pair:
    pump: PumpConnection = field(
        default_factory=lambda: PumpConnection(SERIAL, KEYRING.keys, random_bytes=seeded(2))
    )
    programmer: ProgrammerConnection = field(
        default_factory=lambda: ProgrammerConnection(first_seq=100, random_bytes=seeded(3))
    )
    now_us: int = 1_000_000
    app: Callable[[RequestReceived], Message] = default_app
    pump_events: list[PumpEvent] = field(default_factory=list)
    executed: list[Message] = field(default_factory=list)

    def deliver_to_pump(self, data: bytes) -> bytes:
        """Feed the pump; run the application on each request; return what the pump sends."""
        self.pump.receive_data(data, self.now_us)
        for event in self.pump.events():
            self.pump_events.append(event)
            if isinstance(event, RequestReceived):
                self.executed.append(event.message)
                self.pump.reply(event, self.app(event))
        return self.pump.data_to_send()

    def deliver_to_programmer(self, data: bytes) -> list[ProgrammerEvent]:
        self.programmer.receive_data(data)
        return list(self.programmer.events())

    def ask(self, message: Message) -> Message:
        seq, data = self.programmer.request(message)
        events = self.deliver_to_programmer(self.deliver_to_pump(data))
        replies = [e for e in events if isinstance(e, ReplyReceived) and e.seq == seq]
        assert len(replies) == 1, events
        return replies[0].message

    def open_session(self, role: Role = Role.CLINICIAN, keyring: Keyring = KEYRING) -> Message:
        challenge = self.ask(
            self.programmer.begin_session(role, keyring.keys[role], SERIAL, OPERATOR)
        )
        if isinstance(challenge, ErrorReply):
            return challenge
        return self.ask(self.programmer.answer_challenge(challenge))  # type: ignore[arg-type]
