"""The emulated device: the pump model behind the protocol, still with no I/O and no clock.

``receive(data, now_us)`` and ``tick(now_us)`` are the whole device: bytes from the link and
the simulated time in, bytes for the link out. The shell that owns the port and the clock is
``server``. The link never touches therapy: a refusal, a lost session or a flood of garbage
changes nothing in the pump but its audit log.

``to_plain``/``from_plain``/``restore``: the device as plain data (``device_state``), for a
state file that outlives the process and for snapshots. ``revision`` counts what a saved
state must not miss; link noise leaves it alone.
"""

from __future__ import annotations

import json
import logging
import secrets
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from emulator import device_state, wire_map
from emulator.audit import RefusalAudit
from emulator.refusal import DeviceRefusal
from emulator.wire_map import (
    ALARM_BITS,
    ALARM_CODES,
    LOG_CLASSES,
    MODE_CODES,
    STATE_CODES,
    alarm_flags,
    refusal_reason,
)
from firmware_model import LogEntry, Prescription, Pump, PumpRefusal
from firmware_model.interlocks import (
    MAX_PATIENT_BOLUSES_PER_DAY,
    low_reservoir_range_nl,
)
from firmware_model.log_kinds import CLINICAL, LogClass
from firmware_model.prescription import MAX_FLEX_STEPS
from firmware_model.pump import MAX_CLOCK_S, MIN_CLOCK_S
from firmware_model.units import NL_PER_ML, NL_PER_UL, PPM, US_PER_S
from protocol import (
    CHANGING,
    NO_DIGEST,
    NOT_MEASURED,
    PROTOCOL_VERSION,
    STOP_CONFIRMATION,
    AckAlarm,
    AckAlarmReply,
    AlarmEntry,
    AlarmNotification,
    AlarmsReply,
    Bolus,
    BolusReply,
    ClockReply,
    ClockSet,
    CommitPrescription,
    Committed,
    DrugEntry,
    GetAlarms,
    GetClock,
    GetLimits,
    GetPrescription,
    GetStatus,
    Hello,
    HelloReply,
    Keyring,
    LimitsReply,
    LogBurstPage,
    LogPage,
    LogRecord,
    Message,
    OutcomeMemory,
    PatientBolus,
    PatientBolusReply,
    Prime,
    PrimeReply,
    PumpConnection,
    ReadLog,
    ReadLogPages,
    Reason,
    Refill,
    RefillReply,
    Refused,
    RequestReceived,
    Retransmitted,
    SessionEnded,
    SessionStarted,
    SetClock,
    StagePrescription,
    StaleRequest,
    Start,
    Started,
    StatusReply,
    Stop,
    Stopped,
    VerificationBudget,
    printable,
    request_id,
    staged_reply,
)
from protocol.frame import MAX_PAYLOAD_LEN
from protocol.messages import MAX_BURST_PAGES, encode_payload

log = logging.getLogger(__name__)

U32_MAX = 0xFFFF_FFFF
NG_PER_UG = 1_000
MAX_LOG_PAGE = 8  # entries per READ_LOG reply, at most; fewer when they are long
MAX_DETAIL_LEN = 255  # a text's most: a record's detail is cut only in its message
LOG_PAGE_OVERHEAD = 17  # oldest, next, clinical_lost, link_lost, count
LOG_RECORD_OVERHEAD = 15  # index, t_s, class, two length bytes
BURST_PAGE_OVERHEAD = 2  # page, pages: before a LogPage's fields
Reply = Message | tuple[Message, ...]  # a tuple: a burst (READ_LOG_PAGES)


DEFAULT_SERIAL_NUMBER = "EMU000001"


@dataclass(frozen=True, slots=True)
class Identity:
    model: str = "ITBP-20"
    serial_number: str = DEFAULT_SERIAL_NUMBER
    firmware_version: str = "0.2.0"


@dataclass(slots=True)
class LinkCounters:
    requests: int = 0
    refused: int = 0
    retransmissions: int = 0
    sessions: int = 0


class EmulatedDevice:
    def __init__(
        self,
        pump: Pump,
        identity: Identity,
        keyring: Keyring,
        *,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        budget: VerificationBudget | None = None,
        outcomes: OutcomeMemory | None = None,
    ) -> None:
        if keyring.serial_number != identity.serial_number:
            raise ValueError(
                f"key file is for {keyring.serial_number}, this pump is {identity.serial_number}"
            )
        self.pump = pump
        self.identity = identity
        self._keys = keyring.keys
        self._random_bytes = random_bytes
        self.connection = PumpConnection(
            identity.serial_number,
            keyring.keys,
            random_bytes=random_bytes,
            budget=budget,
            outcomes=outcomes,
        )
        self.counters = LinkCounters()
        self.fail_next = 0  # requests the test rig wants answered INTERNAL_ERROR
        # Bumped by whatever a saved state must not miss: a clinical log entry, a session
        # opened (battery; the outcome memory learns the session), a changing request
        # answered. Link noise does not bump it, so a flood of garbage costs no saving.
        self.revision = 0
        self._staged: tuple[int, bytes, Prescription] | None = None  # session, digest, what
        # Kept to be recognised: while GET_STATUS has this handler, its reply is packed
        # straight from the model (``_status_payload``); a test may put another in its place.
        self._status_handler: Callable[[Message], Reply] = self._status
        self._handlers: dict[type[Message], Callable[[Message], Reply]] = {
            Hello: self._hello,
            GetStatus: self._status_handler,
            GetPrescription: self._get_prescription,
            StagePrescription: self._stage,
            CommitPrescription: self._commit,
            Bolus: self._bolus,
            Prime: self._prime,
            PatientBolus: self._patient_bolus,
            Stop: self._stop,
            Start: self._start,
            Refill: self._refill,
            GetAlarms: self._alarms,
            AckAlarm: self._ack,
            ReadLog: self._read_log,
            ReadLogPages: self._read_log_pages,
            GetClock: self._clock,
            SetClock: self._set_clock,
            GetLimits: self._limits,
        }
        self._session_id = 0
        self._link_us = 0
        self._audit = RefusalAudit(  # self.pump, not pump: a restore replaces it
            lambda reason, detail: self.pump.record_event(
                "link_refused", reason=reason, message=detail
            ),
            lambda counts: self.pump.record_event("link_refusals_suppressed", **counts),
        )
        pump.log.listeners.append(self._on_log)

    # -- plain data: state files and snapshots --------------------------------------------

    def to_plain(self) -> dict[str, Any]:
        """Everything that decides a future reply, as JSON-ready data (``device_state``)."""
        return device_state.to_plain(self.identity, self.pump, self.connection.outcomes)

    @classmethod
    def from_plain(
        cls,
        plain: dict[str, Any],
        keyring: Keyring,
        *,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        budget: VerificationBudget | None = None,
    ) -> EmulatedDevice:
        """The device ``plain`` describes, with no session open; ``ValueError`` (one line)
        if it cannot be rebuilt or the keys are another pump's."""
        state = device_state.from_plain(plain)
        identity = Identity(state.model, state.serial_number)  # this build's firmware
        device = cls(
            state.pump,
            identity,
            keyring,
            random_bytes=random_bytes,
            budget=budget,
            outcomes=state.outcomes,
        )
        device.check_state(state)
        return device

    def restore(self, plain: dict[str, Any]) -> None:
        """Become the device ``plain`` describes: pump (clock and log included) and outcome
        memory. Any open session is closed (its programmer gets UNKNOWN_SESSION and opens
        another), and with it what was staged; the key-verification budget is kept, being
        the link's back-off. ``ValueError`` and nothing changed if ``plain`` cannot be
        rebuilt or is another pump's."""
        state = device_state.from_plain(plain)
        self.check_state(state)
        self.install(state)

    def check_state(self, state: device_state.DeviceState) -> None:
        """DeviceStateError, and nothing changed, unless the pump in ``state`` is one this
        device can stand behind: within its physical ranges, and every reading request
        answerable on the wire (a damaged snapshot must not leave a pump that only says
        INTERNAL_ERROR)."""
        device_state.require_same_pump(state, self.identity)
        pump = state.pump
        try:
            status = pump.status()
        except Exception as exc:  # damage the plain form did not show: never installed
            raise device_state.DeviceStateError(
                f"not a pump this device can be: {type(exc).__name__}: {exc}"
            ) from None
        capacity_nl = pump.config.reservoir_capacity_nl
        checks = (
            (0 <= status.reservoir_nl <= capacity_nl, f"reservoir {status.reservoir_nl} nL "
             f"outside 0..{capacity_nl} nL"),
            (0 <= status.battery_ppm <= PPM, f"battery {status.battery_ppm} ppm outside 0..{PPM}"),
            (pump.t_us >= 0, f"model time {pump.t_us} us is negative"),
            (isinstance(status.drug, str), f"drug {status.drug!r} is not a name"),
            (0 <= pump.clock_us <= MAX_CLOCK_S * US_PER_S,
             f"pump clock {pump.clock_us // US_PER_S} s outside 0..{MAX_CLOCK_S}"),
        )  # fmt: skip
        for holds, what in checks:
            if not holds:
                raise device_state.DeviceStateError(f"not a pump this device can be: {what}")
        own = self.pump
        self.pump = pump
        try:
            for handler in (self._status, self._get_prescription, self._alarms, self._clock):
                encode_payload(handler(GetStatus()))
        except Exception as exc:  # whatever the damage, it is refused, never installed
            raise device_state.DeviceStateError(
                f"not a pump this device can be: its {handler.__name__.strip('_')} reply "
                f"cannot be sent ({type(exc).__name__}: {exc})"
            ) from None
        finally:
            self.pump = own

    def install(self, state: device_state.DeviceState) -> None:
        """``restore`` from state already rebuilt (checked before it was made durable)."""
        device_state.require_same_pump(state, self.identity)
        old = self.connection
        with_session = old.session_id
        self.pump.log.listeners.remove(self._on_log)
        self.pump = state.pump
        self.pump.log.listeners.append(self._on_log)
        self.connection = PumpConnection(
            self.identity.serial_number,
            self._keys,
            random_bytes=self._random_bytes,
            idle_timeout_us=old.idle_timeout_us,
            budget=old.budget,
            outcomes=state.outcomes,
        )
        self._staged = None
        self._session_id = 0
        self.revision += 1
        if with_session:
            log.info("session %08x closed: the device was restored", with_session)

    # -- the two calls the shell makes ---------------------------------------------------

    def tick(self, now_us: int, link_now_us: int | None = None) -> bytes:
        """Let simulated time pass: therapy goes on whether or not anyone is talking."""
        if link_now_us is None:
            self.pump.advance_to(now_us)
            return self.connection.data_to_send()
        self._audit.flush(link_now_us)  # a minute of counted link refusals may be over
        return self.receive(b"", now_us, link_now_us)  # and a session may have gone idle

    def receive(self, data: bytes, now_us: int, link_now_us: int | None = None) -> bytes:
        """``now_us`` is simulated time; ``link_now_us`` is real time, for session idle
        timeouts and the key-verification budget, which are about people at a programmer
        (default: the simulated time)."""
        self.pump.advance_to(now_us)
        connection = self.connection
        link_us = now_us if link_now_us is None else link_now_us
        self._link_us = link_us
        connection.receive_data(data, link_us)
        for event in connection.events():
            if isinstance(event, RequestReceived):
                self._execute(event)
            elif isinstance(event, Refused):
                self.counters.refused += 1
                log.info("refused frame: %s (%s)", event.reason.name, event.detail)
                if event.attributable:  # a key holder's request: the clinical record
                    with self.pump.log.context(by=event.operator, req=event.request_id):
                        self.pump.record_refused(
                            wire_map.operation_name(event.msg_type),
                            event.reason.name.lower(),
                            event.detail,
                        )
                else:  # anyone's noise: throttled, in the link records
                    self._audit.refused(event.reason.name.lower(), event.detail, link_us)
            elif isinstance(event, StaleRequest):
                self.counters.refused += 1
                self._audit.refused("stale_request", event.detail, link_us)
            elif isinstance(event, Retransmitted):
                self.counters.retransmissions += 1
            elif isinstance(event, SessionStarted):
                self.counters.sessions += 1
                self._session_id = event.session_id
                log.info("session %08x opened: %s", event.session_id, event.role.label)
                self.pump.record_event(  # first: the log reads in the order things happened
                    "session_opened",
                    role=event.role.label,
                    by=event.operator,
                    session=f"{event.session_id:08x}",
                )
                self.pump.interrogate()  # a telemetry session: battery, and the MRI hold
            elif isinstance(event, SessionEnded):
                self._staged = None
                self._session_id = 0
                log.info("session %08x ended: %s", event.session_id, event.why)
                self.pump.record_event(
                    "session_closed",
                    role=event.role.label,
                    why=event.why,
                    session=f"{event.session_id:08x}",
                )
        return connection.data_to_send()

    # -- requests ------------------------------------------------------------------------

    def _execute(self, request: RequestReceived) -> None:
        self.counters.requests += 1
        if request.frame.msg_type in CHANGING:
            self.revision += 1  # its outcome is remembered, whatever it is
        handler = self._handlers.get(type(request.message))
        if handler is None:
            self.counters.refused += 1
            self.connection.refuse(request, Reason.UNKNOWN_MESSAGE)
            return
        if self.fail_next:  # a test rig's hook (docs/control.md, fail-next): a bug, on demand
            self.fail_next -= 1
            self.counters.refused += 1
            log.warning("INTERNAL_ERROR injected by the test rig into %s", type(request.message))
            self.connection.refuse(request, Reason.INTERNAL_ERROR, "injected by the test rig")
            return
        message = request.message
        try:
            if handler is self._status_handler:  # the most frequent request: no reply object
                self.connection.reply_payload(request, STATUS_REPLY_TYPE, self._status_payload())
                return
            if type(message) in _RECORD_NOTHING:
                reply = handler(message)
            else:
                with self.pump.log.context(**_stamp(request)):
                    reply = handler(message)
            if isinstance(reply, tuple):
                self.connection.reply_burst(request, reply)
            else:
                self.connection.reply(request, reply)
        except PumpRefusal as refusal:
            self.counters.refused += 1
            log.info("refused %s: %s", type(message).__name__, refusal.message)
            self.connection.refuse(request, refusal_reason(refusal), refusal.message)
        except DeviceRefusal as refusal:
            self.counters.refused += 1
            reason = refusal.reason
            log.info("refused %s: %s", type(message).__name__, refusal.detail)
            if request.role is not None:
                with self.pump.log.context(**_stamp(request)):
                    self.pump.record_refused(
                        wire_map.operation_name(request.frame.msg_type),
                        reason.name.lower(),
                        refusal.detail,
                    )
            else:
                self._audit.refused(reason.name.lower(), refusal.detail, self._link_us)
            self.connection.refuse(request, reason, refusal.detail)
        except Exception:  # a bug must cost one reply, never the therapy or the emulator
            self.counters.refused += 1
            log.exception("internal error handling %s", type(message).__name__)
            self.connection.refuse(request, Reason.INTERNAL_ERROR)

    def _hello(self, message: Message) -> Message:
        assert isinstance(message, Hello)
        if message.min_version > message.max_version:
            raise DeviceRefusal(
                Reason.VALUE_OUT_OF_RANGE,
                f"min_version {message.min_version} above max_version {message.max_version}",
            )
        version = self.connection.negotiate(message)
        if version is None:
            raise DeviceRefusal(
                Reason.UNSUPPORTED_VERSION,
                f"asked for versions {message.min_version}..{message.max_version}; this pump "
                f"speaks protocol version {PROTOCOL_VERSION} only "
                f"({PROTOCOL_VERSION}..{PROTOCOL_VERSION})",
            )
        return HelloReply(
            self.identity.model,
            self.identity.serial_number,
            self.identity.firmware_version,
            version,
            PROTOCOL_VERSION,
            PROTOCOL_VERSION,
        )

    def _status(self, _: Message) -> Message:
        """GET_STATUS's reply as a message: its packed payload read back, so that the reply
        built and the reply sent cannot differ."""
        return _STATUS_DECODE(self._status_payload())

    def _status_payload(self) -> bytes:
        """GET_STATUS's reply payload packed straight from the model's one reading, field by
        field in the order of ``StatusReply`` (alarms and silenced as plain bits), with no
        message in between: the request a programmer repeats most."""
        (
            state,
            mode,
            dose_ug_per_day,
            rate_nl_per_day,
            flow_nl_per_day,
            concentration_ug_per_ml,
            reservoir_nl,
            infused_ng,
            battery_ppm,
            temperature_mc,
            basal_on,
            patient_bolus_ends_us,
            clock_us,
            active_alarms,
        ) = self.pump.status_reading()
        alarms = silenced = 0
        if active_alarms:
            for alarm, _raised, is_silenced in active_alarms:
                bit = ALARM_BITS[alarm]
                alarms |= bit
                if is_silenced:
                    silenced |= bit
        infused_ug = infused_ng // NG_PER_UG
        try:
            return _STATUS_PACK(
                STATE_CODES[state],
                MODE_CODES[mode],
                alarms,
                silenced,
                dose_ug_per_day,
                rate_nl_per_day,
                flow_nl_per_day if flow_nl_per_day < U32_MAX else U32_MAX,
                concentration_ug_per_ml,
                reservoir_nl // NL_PER_UL,
                infused_ug if infused_ug < U32_MAX else U32_MAX,
                battery_ppm,
                temperature_mc,
                clock_us // US_PER_S,
                1 if basal_on else 0,
                0
                if patient_bolus_ends_us is None
                else (patient_bolus_ends_us + clock_us - self.pump.t_us) // US_PER_S,
            )
        except struct.error as exc:  # encode_payload's words, for the same failure
            raise ValueError(f"StatusReply does not fit its wire layout: {exc}") from exc

    def _get_prescription(self, _: Message) -> Message:
        return wire_map.prescription_reply(self.pump.prescription(), self.pump.low_reservoir_nl)

    def _stage(self, message: Message) -> Message:
        assert isinstance(message, StagePrescription)
        self.pump.require_state("program", "stage")
        prescription = wire_map.prescription_from_wire(message)
        self.pump.check_prescription(prescription)
        staged = staged_reply(wire_map.stage_message(prescription, prescription.low_reservoir_nl))
        self._staged = (self._session_id, staged.digest, prescription)
        return staged

    def _take_staged(self, digest: bytes) -> Prescription:
        staged = self._staged
        if staged is None or staged[0] != self._session_id:
            raise DeviceRefusal(Reason.NOTHING_STAGED, "stage a prescription in this session first")
        if staged[1] != digest:
            raise DeviceRefusal(
                Reason.DIGEST_MISMATCH, "digest is not that of the staged prescription"
            )
        return staged[2]

    def _commit(self, message: Message) -> Message:
        assert isinstance(message, CommitPrescription)
        self.pump.require_state("program", "program")
        if message.start not in (0, 1):
            raise DeviceRefusal(
                Reason.VALUE_OUT_OF_RANGE,
                f"start {message.start} is not one of 0 (keep the state), 1 (start delivery)",
            )
        prescription = self._take_staged(message.digest)
        self.pump.apply_prescription(prescription, start=bool(message.start))
        self._staged = None
        status = self.pump.status()
        return Committed(STATE_CODES[status.state], status.rate_nl_per_day)

    def _bolus(self, message: Message) -> Message:
        assert isinstance(message, Bolus)
        self.pump.clinician_bolus(message.dose_ug, message.duration_s * US_PER_S)
        return BolusReply(*self._bolus_figures())

    def _prime(self, message: Message) -> Message:
        assert isinstance(message, Prime)
        self.pump.prime(message.volume_nl or None)
        return PrimeReply(*self._bolus_figures())

    def _patient_bolus(self, _: Message) -> Message:
        self.pump.patient_bolus()
        return PatientBolusReply(*self._bolus_figures(patient=True))

    def _bolus_figures(self, patient: bool = False) -> tuple[int, int, int]:
        bolus = self.pump.bolus_in_progress(patient=patient)
        return bolus.volume_nl, bolus.rate_nl_per_day, bolus.duration_us // US_PER_S

    def _stop(self, message: Message) -> Message:
        assert isinstance(message, Stop)
        self.pump.stop(confirm=message.confirm == STOP_CONFIRMATION)
        return Stopped(STATE_CODES[self.pump.state])

    def _start(self, _: Message) -> Message:
        self.pump.start()
        return Started(STATE_CODES[self.pump.state])

    def _refill(self, message: Message) -> Message:
        assert isinstance(message, Refill)
        self.pump.require_state("refill", "refill")
        prescription = None if message.digest == NO_DIGEST else self._take_staged(message.digest)
        measured = None if message.measured_nl == NOT_MEASURED else message.measured_nl
        self.pump.refill(
            message.volume_nl,
            message.concentration_ug_per_ml,
            drug=message.drug,
            measured_nl=measured,
            prescription=prescription,
        )
        if prescription is not None:
            self._staged = None
        detail = [e for e in self.pump.log if e.kind == "refill"][-1].detail
        return RefillReply(
            detail["expected_nl"],
            detail["measured_nl"],
            detail["discrepancy_nl"],
            STATE_CODES[self.pump.state],
        )

    def _alarm_entries(self) -> tuple[AlarmEntry, ...]:
        return tuple(
            AlarmEntry(ALARM_CODES[alarm], raised_clock_us // US_PER_S, int(silenced))
            for alarm, raised_clock_us, silenced in self.pump.alarm_entries()
        )

    def _alarms(self, _: Message) -> Message:
        return AlarmsReply(self._alarm_entries())

    def _ack(self, message: Message) -> Message:
        assert isinstance(message, AckAlarm)
        self.pump.acknowledge(wire_map.alarm_from_code(message.alarm))
        return AckAlarmReply(self._alarm_entries())

    def _read_log(self, message: Message) -> Message:
        assert isinstance(message, ReadLog)
        if not message.max_entries:
            raise DeviceRefusal(Reason.VALUE_OUT_OF_RANGE, "max_entries 0 outside 1..255")
        log_ = self.pump.log
        (records,) = _log_pages(
            log_.classified_from(message.first),
            self._offset(),
            min(message.max_entries, MAX_LOG_PAGE),
            LOG_PAGE_OVERHEAD,
            1,
        )
        return LogPage(log_.oldest_index, log_.written, log_.clinical_lost, log_.link_lost, records)

    def _read_log_pages(self, message: Message) -> tuple[Message, ...]:
        """Consecutive pages from ``first``, each as full as ``max_entries`` and the payload
        allow, until ``max_pages`` (at most 16) or the end of the log: one burst."""
        assert isinstance(message, ReadLogPages)
        for name in ("max_entries", "max_pages"):
            if not getattr(message, name):
                raise DeviceRefusal(Reason.VALUE_OUT_OF_RANGE, f"{name} 0 outside 1..255")
        log_ = self.pump.log
        pages = _log_pages(
            log_.classified_from(message.first),  # one pass over the log for the burst
            self._offset(),
            message.max_entries,
            LOG_PAGE_OVERHEAD + BURST_PAGE_OVERHEAD,
            min(message.max_pages, MAX_BURST_PAGES),
        )
        counts = (log_.oldest_index, log_.written, log_.clinical_lost, log_.link_lost)
        return tuple(
            LogBurstPage(number, len(pages), *counts, records)
            for number, records in enumerate(pages)
        )

    def _clock(self, _: Message) -> Message:
        return ClockReply(self.pump.clock_us // US_PER_S)

    def _set_clock(self, message: Message) -> Message:
        assert isinstance(message, SetClock)
        self.pump.set_clock(message.clock_s * US_PER_S)
        return ClockSet(self.pump.clock_us // US_PER_S)

    def _limits(self, _: Message) -> Message:
        config = self.pump.config
        low_nl, high_nl = low_reservoir_range_nl(config)
        drugs = []
        for drug in config.drug_library:
            limits = config.drug(drug.name) or drug
            drugs.append(
                DrugEntry(
                    limits.name,
                    limits.max_dose_ug_per_day,
                    limits.max_bolus_ug,
                    limits.min_concentration_ug_per_ml,
                    limits.max_concentration_ug_per_ml,
                )
            )
        return LimitsReply(
            reservoir_capacity_ul=config.reservoir_capacity_nl // NL_PER_UL,
            low_reservoir_min_ul=-(-low_nl // NL_PER_UL),
            low_reservoir_max_ul=high_nl // NL_PER_UL,
            min_rate_nl_per_day=config.min_rate_nl_per_day,
            max_rate_nl_per_day=config.max_rate_nl_per_day,
            min_bolus_duration_s=-(-config.min_bolus_duration_us // US_PER_S),
            max_bolus_duration_s=config.max_bolus_duration_us // US_PER_S,
            max_prime_nl=NL_PER_ML,
            catheter_volume_nl=config.catheter_volume_nl,
            refill_discrepancy_nl=config.refill_discrepancy_nl,
            empty_nl=config.empty_nl,
            max_dose_increase_pct=config.max_dose_increase_pct or 0,
            max_flex_steps=MAX_FLEX_STEPS,
            max_patient_boluses_per_day=MAX_PATIENT_BOLUSES_PER_DAY,
            min_clock_s=MIN_CLOCK_S,
            max_clock_s=MAX_CLOCK_S,
            drugs=tuple(drugs),
        )

    def _offset(self) -> int:
        return self.pump.clock_us - self.pump.t_us

    # -- notifications -------------------------------------------------------------------

    def _on_log(self, entry: LogEntry) -> None:
        if entry.kind == "interrogation" or self.pump.log.class_of(entry.kind) is CLINICAL:
            self.revision += 1
        if entry.kind not in ("alarm", "alarm_cleared"):
            return
        code = wire_map.alarm_code_by_name(str(entry.detail["alarm"]))
        notification = AlarmNotification(
            code,
            1 if entry.kind == "alarm" else 0,
            entry.on_clock_us(self._offset()) // US_PER_S,
            alarm_flags(self.pump.status().alarms),
        )
        try:
            self.connection.notify(notification)
        except ValueError:  # a value that does not fit the wire: a bug, but never a crash
            log.error("alarm notification not sent: %r", notification)


# Requests whose handlers only read the pump: no record to stamp, so no log context (the
# cost of a status request is the reply, not its bookkeeping).


def _fixed_layout(cls: type[Message]) -> tuple[Callable[..., bytes], Callable[[bytes], Message]]:
    if cls.FAST is None or cls.FAST_DECODE is None:
        raise TypeError(f"{cls.__name__} has no fixed-size layout")
    return cls.FAST.pack, cls.FAST_DECODE


_STATUS_PACK, _STATUS_DECODE = _fixed_layout(StatusReply)
STATUS_REPLY_TYPE = int(StatusReply.TYPE)
_RECORD_NOTHING: frozenset[type[Message]] = frozenset({GetStatus, GetClock, GetAlarms, GetLimits})


def _stamp(request: RequestReceived) -> dict[str, str]:
    """Who did it, and under which request: on every clinical record the request causes."""
    if request.role is None:
        return {}
    return {"by": request.operator, "req": request_id(request.session_id, request.frame.counter)}


def _log_pages(
    entries: Iterator[tuple[int, LogClass, LogEntry]],
    offset_us: int,
    max_entries: int,
    overhead: int,
    max_pages: int,
) -> list[tuple[LogRecord, ...]]:
    """Up to ``max_pages`` pages of records from ``entries``, each up to ``max_entries``
    and as many as fit the payload after ``overhead`` bytes (an entry always fits an empty
    page). Ends early with the log; the first page may be empty, no other is."""
    pages: list[tuple[LogRecord, ...]] = []
    records: list[LogRecord] = []
    size = overhead
    for index, log_class, entry in entries:
        if len(records) >= max_entries:  # full by count
            pages.append(tuple(records))
            if len(pages) >= max_pages:
                return pages
            records, size = [], overhead
        t_s = entry.on_clock_us(offset_us) // US_PER_S
        record = LogRecord(index, t_s, LOG_CLASSES[log_class], entry.kind[:40], _detail_text(entry))
        length = LOG_RECORD_OVERHEAD + len(record.kind) + len(record.detail)
        if records and size + length > MAX_PAYLOAD_LEN:  # full by size
            pages.append(tuple(records))
            if len(pages) >= max_pages:
                return pages
            records, size = [], overhead
        records.append(record)
        size += length
    if records or not pages:
        pages.append(tuple(records))
    return pages


def _detail_text(entry: LogEntry) -> str:
    """``key=value`` pairs, one space apart (docs/protocol.md, section 10): ``by`` and ``req``
    first, ``message`` last and the only value with spaces, and the only one ever cut."""
    detail = entry.detail
    keys: list[str] = [k for k in ("by", "req") if k in detail]
    keys += [k for k in detail if k not in ("by", "req", "message")]
    parts = [f"{key}={_detail_value(detail[key])}" for key in keys]
    text = printable(" ".join(parts), MAX_DETAIL_LEN)
    if "message" in detail and len(text) + len(" message=") < MAX_DETAIL_LEN:
        text = printable(f"{text} message={detail['message']}".lstrip(), MAX_DETAIL_LEN)
    return text


def _detail_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value).replace(" ", "_")


__all__ = ["EmulatedDevice", "Identity", "LinkCounters"]
