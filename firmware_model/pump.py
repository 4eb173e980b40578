"""The implanted pump: reservoir, programmed dose and alarms over the state machine.

Time is injected: the owner calls ``advance_to(t_us)`` and the pump integrates its flow
exactly up to that instant. Between requests the flow is constant, so instead of stepping,
the pump solves for the instant the reservoir crosses its next threshold, moves there,
raises the alarm at that very microsecond, and carries on. Years pass in a handful of steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_model import state_machine as sm
from firmware_model.alarms import Alarm
from firmware_model.config import PumpConfig
from firmware_model.errors import PumpRefusal, Refusal
from firmware_model.event_log import EventLog, LogEntry
from firmware_model.units import (
    NL_PER_ML,
    NOMINAL_FLOW_PPM,
    PG_PER_UG,
    QUANTA_PER_NL,
    ceil_div,
    nl_to_quanta,
    quanta_to_nl,
)


@dataclass(frozen=True, slots=True)
class PumpStatus:
    t_us: int
    state: str
    alarms: frozenset[Alarm]
    drug: str
    dose_ug_per_day: int
    rate_nl_per_day: int
    concentration_ug_per_ml: int
    reservoir_nl: int
    infused_ng: int

    @property
    def reservoir_ul(self) -> int:
        return self.reservoir_nl // 1_000

    @property
    def infused_ug(self) -> int:
        return self.infused_ng // 1_000


def rate_for_dose(dose_ug_per_day: int, concentration_ug_per_ml: int) -> int:
    """Flow in nL/day for a dose; rate = dose / concentration (domain.md, Rate from dose [S]).

    The pump quantises the rate to whole nL/day, rounding half up [M]: at most 0.5 nL/day
    off, under 1.3 µL over a seven-year battery life.
    """
    numerator = dose_ug_per_day * NL_PER_ML
    return (2 * numerator + concentration_ug_per_ml) // (2 * concentration_ug_per_ml)


class Pump:
    def __init__(self, config: PumpConfig | None = None, *, t_us: int = 0) -> None:
        self.config = config or PumpConfig()
        self._t_us = t_us
        self._fsm = sm.StateHolder()
        self._machine = sm.build_machine(self._fsm)
        self._volume_q = 0
        self._drug = ""
        self._concentration_ug_per_ml = 0
        self._dose_ug_per_day = 0
        self._rate_nl_per_day = 0
        self._infused_pg_q = 0  # picograms times QUANTA_PER_NL
        self._alarms: set[Alarm] = set()
        self.log = EventLog(self.config.event_log_capacity)

    # -- reading -------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._fsm.state

    @property
    def t_us(self) -> int:
        return self._t_us

    def status(self) -> PumpStatus:
        return PumpStatus(
            t_us=self._t_us,
            state=self.state,
            alarms=frozenset(self._alarms),
            drug=self._drug,
            dose_ug_per_day=self._dose_ug_per_day,
            rate_nl_per_day=self._rate_nl_per_day,
            concentration_ug_per_ml=self._concentration_ug_per_ml,
            reservoir_nl=quanta_to_nl(self._volume_q),
            infused_ng=self._infused_pg_q // (QUANTA_PER_NL * 1_000),
        )

    def next_event_us(self) -> int | None:
        """When the pump will next change by itself (an alarm), if nothing else happens."""
        crossing = self._next_crossing_us()
        return None if crossing is None else self._t_us + crossing

    # -- time ----------------------------------------------------------------------------

    def advance_to(self, t_us: int) -> None:
        if t_us < self._t_us:
            raise ValueError(f"time runs forward only: {t_us} µs is before {self._t_us} µs")
        while True:
            dt_us = self._next_crossing_us()
            if dt_us is None or self._t_us + dt_us > t_us:
                self._flow_for(t_us - self._t_us)
                return
            self._flow_for(dt_us)
            self._check_levels()

    def _flow_q_per_us(self) -> int:
        if self.state not in sm.DELIVERING:
            return 0
        return self._rate_nl_per_day * NOMINAL_FLOW_PPM

    def _flow_for(self, dt_us: int) -> None:
        pumped_q = self._flow_q_per_us() * dt_us
        self._volume_q -= pumped_q
        self._infused_pg_q += pumped_q * self._concentration_ug_per_ml
        self._t_us += dt_us

    def _next_crossing_us(self) -> int | None:
        """Microseconds until the volume first reaches the next threshold below it."""
        flow = self._flow_q_per_us()
        if flow == 0:
            return None
        thresholds = [nl_to_quanta(self.config.empty_nl)]
        if Alarm.LOW_RESERVOIR not in self._alarms:
            thresholds.append(nl_to_quanta(self.config.low_reservoir_nl))
        below = [q for q in thresholds if q < self._volume_q]
        if not below:
            return 0
        return ceil_div(self._volume_q - max(below), flow)

    def _check_levels(self) -> None:
        volume_q = self._volume_q
        low = volume_q <= nl_to_quanta(self.config.low_reservoir_nl)
        empty = volume_q <= nl_to_quanta(self.config.empty_nl)
        self._set_alarm(Alarm.LOW_RESERVOIR, low)
        self._set_alarm(Alarm.EMPTY_RESERVOIR, empty)
        if empty and self.state in sm.DELIVERING:
            self._trigger("reservoir_emptied")

    def _set_alarm(self, alarm: Alarm, active: bool) -> None:
        if active and alarm not in self._alarms:
            self._alarms.add(alarm)
            self._record("alarm", alarm=alarm.value, reservoir_nl=quanta_to_nl(self._volume_q))
        elif not active and alarm in self._alarms:
            self._alarms.discard(alarm)
            self._record("alarm_cleared", alarm=alarm.value)

    # -- requests ------------------------------------------------------------------------

    def fill(self, volume_nl: int, concentration_ug_per_ml: int, drug: str = "baclofen") -> None:
        """Empty the reservoir and fill it with ``volume_nl`` of drug at a concentration."""
        self._require("refill")
        if not 0 < volume_nl <= self.config.reservoir_capacity_nl:
            raise PumpRefusal(
                Refusal.OUT_OF_RANGE,
                f"fill volume {volume_nl} nL outside 1..{self.config.reservoir_capacity_nl} nL",
            )
        if concentration_ug_per_ml <= 0:
            raise PumpRefusal(Refusal.OUT_OF_RANGE, "concentration must be positive")
        if self.state in sm.DELIVERING and concentration_ug_per_ml != self._concentration_ug_per_ml:
            raise PumpRefusal(
                Refusal.WRONG_STATE,
                "a new concentration needs the pump stopped and the dose re-entered",
            )
        self._volume_q = nl_to_quanta(volume_nl)
        self._concentration_ug_per_ml = concentration_ug_per_ml
        self._drug = drug
        self._record("filled", volume_nl=volume_nl, concentration_ug_per_ml=concentration_ug_per_ml)
        self._trigger("refill")
        self._check_levels()

    def set_dose(self, dose_ug_per_day: int) -> int:
        """Program simple continuous delivery; return the resulting rate in nL/day."""
        self._require("program_continuous")
        limit = self.config.max_dose_ug_per_day
        if not 0 < dose_ug_per_day <= limit:
            raise PumpRefusal(
                Refusal.OUT_OF_RANGE,
                f"dose {dose_ug_per_day} ug/day outside 1..{limit} ug/day",
            )
        if self._concentration_ug_per_ml == 0 or self._volume_q <= nl_to_quanta(
            self.config.empty_nl
        ):
            raise PumpRefusal(Refusal.NO_DRUG, "reservoir holds no usable drug; fill it first")
        rate = rate_for_dose(dose_ug_per_day, self._concentration_ug_per_ml)
        low, high = self.config.min_rate_nl_per_day, self.config.max_rate_nl_per_day
        if not low <= rate <= high:
            raise PumpRefusal(
                Refusal.OUT_OF_RANGE,
                f"dose {dose_ug_per_day} ug/day at {self._concentration_ug_per_ml} ug/mL needs "
                f"{rate / 1000:g} uL/day, outside the pump's {low // 1000}..{high // 1000} uL/day",
            )
        self._dose_ug_per_day = dose_ug_per_day
        self._rate_nl_per_day = rate
        self._trigger("program_continuous")
        self._record("programmed", mode="continuous", dose_ug_per_day=dose_ug_per_day)
        return rate

    def stop(self, *, confirm: bool) -> None:
        self._require("stop")
        if not confirm:
            raise PumpRefusal(
                Refusal.CONFIRMATION_REQUIRED,
                "stopping risks baclofen withdrawal; confirm to stop",
            )
        self._trigger("stop")

    # -- internals -----------------------------------------------------------------------

    def _require(self, trigger: str) -> None:
        if trigger not in sm.allowed_triggers(self.state):
            raise PumpRefusal(
                Refusal.WRONG_STATE, f"{trigger.replace('_', ' ')} not allowed while {self.state}"
            )

    def _trigger(self, trigger: str) -> None:
        before = self.state
        self._fsm.trigger(trigger)  # type: ignore[attr-defined]
        if self.state != before:
            self._record("state", state=self.state, trigger=trigger)

    def _record(self, kind: str, **detail: object) -> None:
        self.log.append(LogEntry(self._t_us, kind, dict(detail)))


__all__ = ["PG_PER_UG", "Pump", "PumpStatus", "rate_for_dose"]
