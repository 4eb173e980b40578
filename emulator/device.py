"""The emulated device: the pump model behind the protocol, still with no I/O and no clock.

``receive(data, now_us)`` is the whole device: bytes from the link and the current simulated
time in, bytes for the link out. The shell that owns the port and the clock is ``server``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from emulator.wire_map import STATE_CODES, alarm_flags, refusal_reason
from firmware_model import Pump, PumpRefusal
from firmware_model.units import US_PER_S
from protocol import (
    PROTOCOL_VERSION,
    BadRequest,
    FrameDropped,
    GetStatus,
    Hello,
    HelloReply,
    Message,
    PumpConnection,
    Reason,
    RequestReceived,
    Retransmission,
    SetDose,
    SetDoseReply,
    StatusReply,
)

log = logging.getLogger(__name__)

U32_MAX = 0xFFFF_FFFF


DEFAULT_SERIAL_NUMBER = "EMU000001"


@dataclass(frozen=True, slots=True)
class Identity:
    model: str = "ITBP-20"
    serial_number: str = DEFAULT_SERIAL_NUMBER
    firmware_version: str = "0.1.0"


@dataclass(slots=True)
class LinkCounters:
    requests: int = 0
    refused: int = 0
    retransmissions: int = 0
    dropped: int = 0


class EmulatedDevice:
    def __init__(self, pump: Pump, identity: Identity | None = None) -> None:
        self.pump = pump
        self.identity = identity or Identity()
        self.connection = PumpConnection()
        self.counters = LinkCounters()
        self._handlers: dict[type[Message], Callable[[Message], Message]] = {
            Hello: self._hello,
            GetStatus: self._status,
            SetDose: self._set_dose,
        }

    def tick(self, now_us: int) -> None:
        """Let simulated time pass: therapy goes on whether or not anyone is talking."""
        self.pump.advance_to(now_us)

    def receive(self, data: bytes, now_us: int) -> bytes:
        self.tick(now_us)
        self.connection.receive_data(data)
        out = bytearray()
        for event in self.connection.events():
            if isinstance(event, RequestReceived):
                out += self._execute(event)
            elif isinstance(event, BadRequest):
                self.counters.refused += 1
                log.info("refused frame: %s (%s)", event.reason.name, event.detail)
                out += self.connection.refuse(event)
            elif isinstance(event, Retransmission):
                self.counters.retransmissions += 1
                out += event.data
            elif isinstance(event, FrameDropped):
                self.counters.dropped += 1
                log.info("dropped frame: %s (%s)", event.reason.name, event.detail)
        return bytes(out)

    def _execute(self, request: RequestReceived) -> bytes:
        self.counters.requests += 1
        handler = self._handlers.get(type(request.message))
        if handler is None:
            self.counters.refused += 1
            return self.connection.refuse(request, Reason.UNKNOWN_MESSAGE)
        try:
            return self.connection.reply(request, handler(request.message))
        except PumpRefusal as refusal:
            self.counters.refused += 1
            log.info("refused %s: %s", type(request.message).__name__, refusal.message)
            return self.connection.refuse(request, refusal_reason(refusal), refusal.message)
        except Exception:  # a bug must cost one reply, never the therapy or the emulator
            self.counters.refused += 1
            log.exception("internal error handling %s", type(request.message).__name__)
            return self.connection.refuse(request, Reason.INTERNAL_ERROR)

    def _hello(self, _: Message) -> Message:
        self.pump.interrogate()  # a telemetry session: it costs battery, and is logged
        return HelloReply(
            model=self.identity.model,
            serial_number=self.identity.serial_number,
            firmware_version=self.identity.firmware_version,
            protocol_version=PROTOCOL_VERSION,
        )

    def _status(self, _: Message) -> Message:
        status = self.pump.status()
        return StatusReply(
            state=STATE_CODES[status.state],
            alarms=alarm_flags(status.alarms),
            dose_ug_per_day=status.dose_ug_per_day,
            rate_nl_per_day=status.rate_nl_per_day,
            concentration_ug_per_ml=status.concentration_ug_per_ml,
            reservoir_ul=status.reservoir_ul,
            infused_ug=min(status.infused_ug, U32_MAX),
            clock_s=status.t_us // US_PER_S,
        )

    def _set_dose(self, message: Message) -> Message:
        assert isinstance(message, SetDose)
        rate = self.pump.set_dose(message.dose_ug_per_day)
        return SetDoseReply(dose_ug_per_day=message.dose_ug_per_day, rate_nl_per_day=rate)
