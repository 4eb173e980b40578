"""The running emulator as a test rig: one owner for the device, its clocks and its line.

Two parties drive a running emulator: the serial loop (a programmer's bytes) and the control
channel (the test rig's verbs, on another thread). Both go through a ``Rig`` and its one lock,
so a time jump, an environment change or a restore happens between two requests, never in
the middle of one. Everything here is still testable without a port: the channel, the clocks
and the persistence are passed in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from emulator import device_state
from emulator.device import EmulatedDevice
from emulator.persistence_shell import DurableDevice
from emulator.presets import build_preset
from emulator.sim_clock import SimClock
from emulator.state_file import StateFileError
from firmware_model import LogEntry, Pump
from firmware_model.pump import MAX_CLOCK_S
from firmware_model.units import PPM, US_PER_S
from protocol import OutcomeMemory
from transport import ByteChannel, NoiseModel

log = logging.getLogger(__name__)

MAX_EVENTS_RETURNED = 10_000
_MAX_CLOCK_US = MAX_CLOCK_S * US_PER_S  # an advance of years returns its first events and a count


class NotSaved(Exception):
    """A control change made in the running pump that ``--state`` could not save."""


class LineFaults(Protocol):
    """The part of the channel stack a test rig may change while the emulator runs."""

    def set_faults(
        self, to_device: NoiseModel | None, from_device: NoiseModel | None, delay_s: float = 0.0
    ) -> None: ...

    def faults_off(self) -> None: ...


class LinePacing(Protocol):
    def set_baud(self, baud: int | None) -> None: ...


@dataclass(slots=True)
class FaultSettings:
    to_pump: NoiseModel | None = None
    to_programmer: NoiseModel | None = None
    delay_s: float = 0.0
    baud: int | None = None

    def plain(self) -> dict[str, Any]:
        def rates(model: NoiseModel | None) -> dict[str, float] | None:
            if model is None:
                return None
            return {"flip": model.flip, "drop": model.drop, "duplicate": model.duplicate}

        return {
            "to_pump": rates(self.to_pump),
            "to_programmer": rates(self.to_programmer),
            "delay_s": self.delay_s,
            "baud": self.baud,
        }


@dataclass(slots=True)
class RigParts:
    """The channel stack's live controls, if the shell built them."""

    faults: LineFaults | None = None
    pacing: LinePacing | None = None
    base_pacing_baud: int | None = None  # --baud-pace, what `faults off` returns to
    settings: FaultSettings = field(default_factory=FaultSettings)


class Rig:
    def __init__(
        self,
        device: EmulatedDevice,
        clock: SimClock,
        channel: ByteChannel,
        *,
        parts: RigParts | None = None,
        durable: DurableDevice | None = None,
        on_device: Callable[[EmulatedDevice], None] = lambda _device: None,
        monotonic_us: Callable[[], int] = lambda: time.monotonic_ns() // 1_000,
        wall_s: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.device = device
        self.clock = clock
        self.channel = channel
        self.parts = parts or RigParts()
        self.durable = durable
        self._on_device = on_device
        on_device(device)
        self._monotonic_us = monotonic_us
        self._wall_s = wall_s
        self._link_offset_us = 0
        self._outbox = bytearray()  # what the control side has for the line: the loop sends it
        self._new_baud: tuple[int | None] | None = None  # a pacing change for the loop to make
        self.reply_withheld = 0
        self.closed = False
        self._clock_end_said = False  # replies not sent because their state was not durable

    # -- the serial side -------------------------------------------------------------------

    def link_now_us(self) -> int:
        return self._monotonic_us() + self._link_offset_us

    def serve_once(self) -> None:
        """One read of the line, then the device's answer, made durable before it is sent.

        Only this loop touches the channel: the control side leaves bytes in an outbox and
        pacing changes in ``_new_baud``, taken here between two reads."""
        data = self.channel.read_some()
        with self.lock:
            if self.closed:
                return
            if self._new_baud is not None and self.parts.pacing is not None:
                self.parts.pacing.set_baud(self._new_baud[0])
                self._new_baud = None
            device = self.device
            now_us = self._now_us()
            link_us = self._monotonic_us() + self._link_offset_us
            out = device.receive(data, now_us, link_us) if data else device.tick(now_us, link_us)
            if self.durable is not None:
                durable_out = self.durable.persist(out)
                if out and not durable_out:
                    self.reply_withheld += 1  # retransmitted, it gets the cached reply
                out = durable_out
            if self._outbox:
                out, self._outbox = bytes(self._outbox) + out, bytearray()
            if out:
                self.channel.write(out)

    def close(self) -> None:
        """Stop: every control request from now on is refused, then the last save."""
        with self.lock:
            self.closed = True
            if self.durable is not None:
                self.durable.close()

    def _now_us(self) -> int:
        """Simulated time, stopped at the instant the pump clock reaches the end of its
        range (2099-12-31): past it no reply could carry the time (docs/protocol.md)."""
        now_us = self.clock.now_us()
        pump = self.device.pump
        end_us = pump.t_us + _MAX_CLOCK_US - pump.clock_us
        if now_us <= end_us:
            return now_us
        if not self._clock_end_said:
            log.warning(
                "the pump clock reached %s, the end of its range: time stops",
                _utc(MAX_CLOCK_S * US_PER_S),
            )
            self._clock_end_said = True
        self.clock.rebase(end_us)
        return end_us

    def _open(self) -> Pump:
        """The pump, brought to now, for a control request; refused once stopping."""
        if self.closed:
            raise RuntimeError("the emulator is stopping")
        pump = self.device.pump
        pump.advance_to(self._now_us())
        return pump

    def _make_durable(self) -> None:
        """A control change is answered only once saved, as a serial request is."""
        if self.durable is None:
            return
        try:
            self.durable.save()
        except StateFileError as exc:
            raise NotSaved(
                f"done in the running pump but not saved (a restart would lose it): {exc}"
            ) from exc

    def serve(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        while not should_stop():
            self.serve_once()

    def _send_pending(self) -> None:
        self._outbox += self.device.connection.data_to_send()

    # -- the control side: every method below runs under the lock --------------------------

    def state(self) -> dict[str, Any]:
        with self.lock:
            pump = self._open()
            return describe(pump, self.clock.speed) | {
                "link": self._link_state(),
                "faults": self.parts.settings.plain(),
            }

    def advance(self, duration_us: int) -> dict[str, Any]:
        """Jump simulated time: every event due happens at its own instant, in order; alarm
        notifications go out on the line as they would have."""
        with self.lock:
            pump = self._open()
            max_us = MAX_CLOCK_S * US_PER_S - pump.clock_us
            if duration_us > max_us:
                raise ValueError(
                    f"advance would take the pump clock past {_utc(MAX_CLOCK_S * US_PER_S)}, "
                    f"the end of its range: at most {max_us // US_PER_S} s from now"
                )
            events: list[dict[str, Any]] = []
            counted = [0]
            offset_us = pump.clock_us - pump.t_us

            def collect(entry: LogEntry) -> None:
                counted[0] += 1
                if len(events) < MAX_EVENTS_RETURNED:
                    events.append(_event(entry, offset_us))

            pump.log.listeners.append(collect)
            try:
                now_us = self.clock.jump(duration_us)
                out = self.device.tick(now_us, self.link_now_us())
            finally:
                pump.log.listeners.remove(collect)
            self._outbox += out
            self._make_durable()
            return {
                "advanced_s": duration_us / US_PER_S,
                "events": events,
                "event_count": counted[0],
                "state": describe(pump, self.clock.speed),
            }

    def link_advance(self, duration_us: int) -> dict[str, Any]:
        """Move the link's clock: session idle time and back-off pass; therapy does not."""
        with self.lock:
            self._open()
            self._link_offset_us += duration_us
            self._send_pending()
            self._outbox += self.device.tick(self._now_us(), self.link_now_us())
            return {"link_advanced_s": duration_us / US_PER_S, "link": self._link_state()}

    def set_speed(self, speed: float) -> dict[str, Any]:
        with self.lock:
            self._open()
            self.clock.set_speed(speed)
            return {"speed": speed}

    def environment(self, apply: Callable[[Pump], None]) -> dict[str, Any]:
        """A physical event (heat, MRI, occlusion, battery) at the present instant."""
        with self.lock:
            pump = self._open()
            apply(pump)
            self._send_pending()
            self._make_durable()
            return describe(pump, self.clock.speed)

    def set_faults(self, settings: FaultSettings) -> dict[str, Any]:
        with self.lock:
            self._open()
            parts = self.parts
            if parts.faults is None:
                raise RuntimeError("this emulator was built without a fault stage")
            if settings.baud is not None and parts.pacing is None:
                raise RuntimeError("this emulator was built without baud pacing")
            parts.faults.set_faults(settings.to_pump, settings.to_programmer, settings.delay_s)
            if parts.pacing is not None:
                self._new_baud = (settings.baud or parts.base_pacing_baud,)
            parts.settings = settings
            log.info("line faults: %s", settings.plain())
            return {"faults": settings.plain()}

    def faults_off(self) -> dict[str, Any]:
        with self.lock:
            self._open()
            parts = self.parts
            if parts.faults is not None:
                parts.faults.faults_off()
            if parts.pacing is not None:
                self._new_baud = (parts.base_pacing_baud,)
            parts.settings = FaultSettings(baud=parts.base_pacing_baud)
            log.info("line faults off")
            return {"faults": parts.settings.plain()}

    def fail_next(self, count: int) -> dict[str, Any]:
        """The next ``count`` requests get INTERNAL_ERROR, executing nothing: how a HIL suite
        sees the pump's answer to its own bug."""
        with self.lock:
            self._open()
            self.device.fail_next = count
            return {"fail_next": count}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            self._open()
            return self.device.to_plain()

    def restore(self, plain: dict[str, Any]) -> dict[str, Any]:
        """Replace the pump (model, clock, log) with a snapshot; any open session ends. The
        link's back-off stays: a snapshot is no way around the verification budget."""
        with self.lock:
            self._open()
            self._send_pending()  # what the old pump had to say still goes out
            if self.durable is not None:
                self.durable.restore(plain)  # durable first, then in force
            else:
                self.device.restore(plain)
            device = self.device
            self.clock.rebase(device.pump.t_us)
            self._on_device(device)
            log.info("pump restored by the test rig: %s", device.pump.status().state)
            return describe(device.pump, self.clock.speed)

    def reset(self, preset: str, clock_s: int | None = None) -> dict[str, Any]:
        with self.lock:
            device = self.device
            clock_us = int(self._wall_s() * US_PER_S) if clock_s is None else clock_s * US_PER_S
            pump = build_preset(preset, device.pump.config, clock_us)
            return self.restore(device_state.to_plain(device.identity, pump, OutcomeMemory()))

    def _link_state(self) -> dict[str, Any]:
        device = self.device
        role = device.connection.session_role
        c = device.counters
        return {
            "session_open": role is not None,
            "role": None if role is None else role.label,
            "requests": c.requests,
            "refused": c.refused,
            "retransmissions": c.retransmissions,
            "sessions": c.sessions,
            "link_offset_s": self._link_offset_us / US_PER_S,
            "replies_withheld": self.reply_withheld,
        }


def describe(pump: Pump, speed: float) -> dict[str, Any]:
    """The true model state, for a test's assertions (docs/control.md, ``state``)."""
    status = pump.status()
    offset_us = pump.clock_us - pump.t_us
    basal = pump.basal
    next_us = pump.next_event_us()
    return {
        "simulated_time_us": status.t_us,
        "clock_s": pump.clock_us // US_PER_S,
        "clock_utc": _utc(pump.clock_us),
        "speed": speed,
        "state": status.state,
        "mode": status.mode,
        "basal_on": status.basal_on,
        "drug": status.drug,
        "concentration_ug_per_ml": status.concentration_ug_per_ml,
        "dose_ug_per_day": status.dose_ug_per_day,
        "rate_nl_per_day": status.rate_nl_per_day,
        "flow_nl_per_day": status.flow_nl_per_day,
        "reservoir_nl": status.reservoir_nl,
        "pumped_nl": status.pumped_nl,
        "infused_ng": status.infused_ng,
        "temperature_c": status.temperature_mc / 1_000,
        "battery_fraction": status.battery_ppm / PPM,
        "low_reservoir_nl": pump.low_reservoir_nl,
        "prescription": None if basal is None else repr(basal),
        "alarms": [
            {
                "alarm": alarm.value,
                "since_clock_s": raised_clock_us // US_PER_S,
                "since_utc": _utc(raised_clock_us),
                "silenced": silenced,
            }
            for alarm, raised_clock_us, silenced in pump.alarm_entries()
        ],
        "next_event_clock_s": None if next_us is None else (next_us + offset_us) // US_PER_S,
    }


def _event(entry: LogEntry, offset_us: int) -> dict[str, Any]:
    clock_us = entry.on_clock_us(offset_us)
    return {
        "simulated_time_us": entry.t_us,
        "clock_s": clock_us // US_PER_S,
        "clock_utc": _utc(clock_us),
        "kind": entry.kind,
        "detail": {key: _plain(value) for key, value in entry.detail.items()},
    }


def _plain(value: object) -> object:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _utc(clock_us: int) -> str:
    return datetime.fromtimestamp(clock_us / US_PER_S, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
