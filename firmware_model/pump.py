"""The implanted pump: reservoir, catheter, prescription, battery and alarms over the state machine.

Time is injected: the owner calls ``advance_to(t_us)`` and the pump integrates up to that
instant. Between events every rate is constant, or follows the closed form of a heat lag
(firmware_model/flow.py), so instead of stepping, the pump computes the next instant anything
can change (a timer: bolus end, flex step, exposure end, the lagged temperature crossing
37 °C, window edge; or a level crossing: reservoir thresholds, battery ERI, over-infusion),
jumps there exactly, applies what happens at that microsecond, and carries on. Years pass in a
few thousand steps, and every alarm is raised at the microsecond its condition becomes true.

Constant flows integrate in integers, exactly. A lagged flow is integrated from the start of
its segment (the last event), rounded up, so slicing time into more ``advance_to`` calls never
changes a figure, and a saved pump resumes its segment rather than starting a new one.

Requests (``program``, ``refill``, ``clinician_bolus``...) act at the pump's current time.
A refused request raises ``PumpRefusal`` having changed nothing; it is written to the event
log, as every refused command must be.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Concatenate, ParamSpec, TypeVar

from firmware_model import interlocks
from firmware_model import state_machine as sm
from firmware_model.alarms import Alarm, AlarmPanel
from firmware_model.catheter import Catheter
from firmware_model.config import PumpConfig
from firmware_model.dose_window import DoseWindow, InForce
from firmware_model.errors import PumpRefusal, Refusal
from firmware_model.event_log import EventLog, LogEntry
from firmware_model.flow import BOUND_SLACK, Flow, slack
from firmware_model.heat import Lag, settle_bound_mc
from firmware_model.interlocks import rate_for_dose, refuse
from firmware_model.over_infusion import ExcessWindow
from firmware_model.prescription import Basal, Continuous, Flex, PatientLimits, Prescription
from firmware_model.units import (
    BODY_TEMPERATURE_MC,
    NL_PER_ML,
    PG_PER_NG,
    PPB,
    PPM,
    QUANTA_PER_NL,
    S_PER_DAY,
    US_PER_DAY,
    US_PER_S,
    ceil_div,
    nl_to_quanta,
    quanta_to_nl,
    round_div,
    spoken_duration,
    volume_nl_for_dose,
)

NEVER = 1 << 80
RATES_MEMO_SIZE = 256  # basal rates remembered by second of the day (a day's flex steps)
MAX_EVENTS_PER_INSTANT = 64  # a guard: more at one microsecond would be a model bug
MIN_TEMPERATURE_MC = 20_000  # [M] plausible pump-body temperatures: 20 to 50 °C
MAX_TEMPERATURE_MC = 50_000
# [M] the pump clock is settable from 2000-01-01 to the end of 2099 (UTC): any real date of a
# pump's service, and far enough inside u64 seconds that nothing it computes can overflow.
MIN_CLOCK_S = 946_684_800
MAX_CLOCK_S = 4_102_444_799


@dataclass(frozen=True, slots=True)
class PumpStatus:
    t_us: int
    state: str
    mode: str  # "continuous", "flex" or "none"
    alarms: frozenset[Alarm]
    silenced: frozenset[Alarm]
    drug: str
    dose_ug_per_day: int  # basal dose in force now (flex: the current step)
    rate_nl_per_day: int  # basal rate for that dose, at body temperature
    flow_nl_per_day: int  # what the motor delivers right now, heat included, rounded
    concentration_ug_per_ml: int
    reservoir_nl: int
    infused_ng: int  # drug that left the catheter tip into the spinal fluid
    pumped_nl: int
    battery_ppm: int
    temperature_mc: int
    # The programmed basal runs, or resumes by itself (after a bolus, a stall, a refill of an
    # empty reservoir): what a refill or a recovery will lead to.
    basal_on: bool = False
    patient_bolus_ends_us: int | None = None  # model time a running patient bolus ends

    @property
    def reservoir_ul(self) -> int:
        return self.reservoir_nl // 1_000

    @property
    def infused_ug(self) -> int:
        return self.infused_ng // 1_000


# ``Pump.status_reading()``: state, mode, then as ``PumpStatus`` names them dose_ug_per_day,
# rate_nl_per_day, flow_nl_per_day, concentration_ug_per_ml, reservoir_nl, infused_ng,
# battery_ppm, temperature_mc, basal_on, patient_bolus_ends_us; then clock_us, and the active
# alarms as ``Pump.alarm_entries()`` lists them (alarm, raised on the pump clock, silenced).
StatusReading = tuple[
    str, str, int, int, int, int, int, int, int, int, bool, int | None, int,
    tuple[tuple[Alarm, int, bool], ...],
]  # fmt: skip
_PGQ_PER_NG = QUANTA_PER_NL * PG_PER_NG  # infused_pgq per whole nanogram
_HALF_PPB = PPB // 2


@dataclass(frozen=True, slots=True)
class BolusInfo:
    volume_nl: int
    rate_nl_per_day: int
    duration_us: int


NO_BOLUS = BolusInfo(0, 0, 0)


@dataclass(frozen=True, slots=True)
class Accounts:
    """Exact volumes in quanta, for mass balance: filled = pumped + remaining + withdrawn."""

    filled_q: int
    pumped_q: int
    remaining_q: int
    withdrawn_q: int
    infused_pgq: int  # drug mass out of the tip, picograms times quanta per nL


P = ParamSpec("P")
R = TypeVar("R")


def request(
    name: str,
) -> Callable[[Callable[Concatenate[Pump, P], R]], Callable[Concatenate[Pump, P], R]]:
    """Write every refusal of this request to the event log: an audit of refused commands."""

    def wrap(method: Callable[Concatenate[Pump, P], R]) -> Callable[Concatenate[Pump, P], R]:
        def logged(self: Pump, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(self, *args, **kwargs)
            except PumpRefusal as refusal:
                self._record(
                    "refused", request=name, reason=refusal.reason.value, message=refusal.message
                )
                raise

        functools.update_wrapper(logged, method)
        return logged

    return wrap


class Pump:
    def __init__(self, config: PumpConfig | None = None, *, t_us: int = 0) -> None:
        cfg = self.config = config or PumpConfig()
        self._t = t_us
        self._fsm = sm.StateHolder()
        self._machine = sm.build_machine(self._fsm)
        self.log = EventLog(cfg.event_log_capacity, cfg.link_log_capacity)
        self._alarms = AlarmPanel()
        self._timers: dict[str, int] = {}
        # Reservoir and catheter, in quanta (firmware_model/units.py).
        self._volume_q = 0
        self._concentration = 0
        self._drug = ""
        self._filled_q = 0
        self._withdrawn_q = 0
        self._pumped_q = 0
        self._catheter = Catheter(nl_to_quanta(cfg.catheter_volume_nl))
        self._infused_pgq = 0
        self._low_q = nl_to_quanta(cfg.low_reservoir_nl)
        self._empty_q = nl_to_quanta(cfg.empty_nl)
        # Prescription and boluses.
        self._basal: Basal | None = None
        self._basal_rate = 0
        self._bolus_rate = 0
        self._bolus_kind = ""
        self._bolus_info = NO_BOLUS
        self._patient_info = NO_BOLUS
        self._limits: PatientLimits | None = None
        self._patient_rate = 0
        self._patient_starts: deque[int] = deque()
        # (concentration, second of the day) -> (rate, seconds to the next flex step) under
        # ``_rates_basal``: a flex schedule repeats daily, so its steps are looked up once.
        self._rates: dict[tuple[int, int], tuple[int, int | None]] = {}
        self._rates_basal: Basal | None = None
        self._doses = DoseWindow()  # daily totals in force over 24 h: the dose-change cap
        self._clock_offset_us = 0  # pump clock minus model time: sets the time of day
        # Environment: the pump body's temperature, lagging its surroundings (heat.py).
        tau_us = cfg.thermal_time_constant_us
        self._set_lag(Lag(BODY_TEMPERATURE_MC, 0.0, t_us, tau_us))
        self._settle_bound_mc = settle_bound_mc(
            cfg.max_rate_nl_per_day, cfg.heat_coefficient_ppb_per_mc, tau_us
        )
        self._blocked: dict[str, int] = {}  # cause -> blocked until, µs
        # Battery, in quiescent microseconds times QUANTA_PER_NL.
        self._battery_capacity = cfg.battery_life_at_zero_flow_us * QUANTA_PER_NL
        self._eri_threshold = (cfg.battery_life_at_zero_flow_us - cfg.eri_to_eos_us) * QUANTA_PER_NL
        self._battery_used = (PPM - cfg.initial_battery_ppm) * self._battery_capacity // PPM
        self._eri_us: int | None = None
        # Over-infusion window.
        self._window = ExcessWindow(cfg.over_infusion_window_us)
        self._tolerance_factor = PPB + cfg.over_infusion_tolerance_ppb
        # Segment: what holds from the last event until the next one.
        self._flow = 0  # constant flow, quanta per µs (0 while a lagged flow runs)
        self._lagged_flow: Flow | None = None  # the flow while a heat lag shapes it
        self._drain = QUANTA_PER_NL
        self._battery_us_per_nl = cfg.battery_us_per_nl
        self._segment_start_us = t_us
        self._segment_pumped_q = 0  # pumped since the segment start, while lagged
        self._next_event_us = NEVER
        self._over_now = False  # the over-infusion condition at the segment start
        self._settle()

    # -- reading -------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._fsm.state

    @property
    def t_us(self) -> int:
        return self._t

    @property
    def basal(self) -> Basal | None:
        return self._basal

    @property
    def patient_limits(self) -> PatientLimits | None:
        return self._limits

    @property
    def low_reservoir_nl(self) -> int:
        return quanta_to_nl(self._low_q)

    def status(self) -> PumpStatus:
        basal = self._basal
        dose = basal.dose_at(self._second_of_day()) if basal else 0
        return PumpStatus(
            t_us=self._t,
            state=self.state,
            mode="none" if basal is None else ("flex" if isinstance(basal, Flex) else "continuous"),
            alarms=frozenset(self._alarms.active),
            silenced=frozenset(a for a, e in self._alarms.active.items() if e.silenced),
            drug=self._drug,
            dose_ug_per_day=dose,
            rate_nl_per_day=self._basal_rate,
            flow_nl_per_day=self._flow_nl_per_day(),
            concentration_ug_per_ml=self._concentration,
            reservoir_nl=quanta_to_nl(self._volume_q),
            infused_ng=self._infused_pgq // (QUANTA_PER_NL * PG_PER_NG),
            pumped_nl=quanta_to_nl(self._pumped_q),
            battery_ppm=self.battery_ppm(),
            temperature_mc=round(self._lag.temperature_at(self._t)),
            basal_on=self._fsm.basal_on,
            patient_bolus_ends_us=self._timers.get("patient_bolus_end"),
        )

    def _flow_nl_per_day(self) -> int:
        lagged = self._lagged_flow
        if lagged is None:
            return round_div(self._flow, PPB)
        return round(lagged.rate_at(self._t) / PPB)

    def bolus_in_progress(self, *, patient: bool = False) -> BolusInfo:
        """The bolus (or patient bolus) last started: volume, rate, duration."""
        return self._patient_info if patient else self._bolus_info

    def alarm_entries(self) -> list[tuple[Alarm, int, bool]]:
        """Active alarms: which, raised when (the pump clock then, µs), silenced or not."""
        return [(a, e.raised_clock_us, e.silenced) for a, e in self._alarms.active.items()]

    def record_event(self, kind: str, **detail: object) -> None:
        """Write an entry for something the pump's owner saw (a session opened, say)."""
        self._record(kind, **detail)

    def status_reading(self) -> StatusReading:
        """What ``status()`` says, as a plain tuple in the order of ``StatusReading``, with
        the pump clock and the active alarms as ``alarm_entries()`` gives them (empty: a
        tuple): a programmer polls many times a second, and a frozen snapshot of everything
        costs more than the reply built from it. The helpers ``status()`` calls are written
        out here (one call, not ten); a test holds the two to the same values."""
        t = self._t
        clock_us = t + self._clock_offset_us
        basal = self._basal
        if basal is None:
            mode, dose = "none", 0
        elif isinstance(basal, Flex):
            mode, dose = "flex", basal.dose_at((clock_us // US_PER_S) % S_PER_DAY)
        else:
            mode, dose = "continuous", basal.dose_ug_per_day
        lagged = self._lagged_flow
        flow = (  # _flow_nl_per_day(): round_div(flow, PPB) with PPB even
            (self._flow + _HALF_PPB) // PPB if lagged is None else round(lagged.rate_at(t) / PPB)
        )
        capacity = self._battery_capacity
        left = capacity - self._battery_used
        lag = self._lag
        fsm = self._fsm
        active = self._alarms.active
        return (
            fsm.state,
            mode,
            dose,
            self._basal_rate,
            flow,
            self._concentration,
            self._volume_q // QUANTA_PER_NL,
            self._infused_pgq // _PGQ_PER_NG,
            left * PPM // capacity if left > 0 else 0,  # battery_ppm()
            lag.target_mc if lag.deviation_mc == 0.0 else round(lag.temperature_at(t)),
            fsm.basal_on,
            self._timers.get("patient_bolus_end"),
            clock_us,
            tuple([(a, e.raised_clock_us, e.silenced) for a, e in active.items()])
            if active
            else (),
        )

    def accounts(self) -> Accounts:
        return Accounts(
            filled_q=self._filled_q,
            pumped_q=self._pumped_q,
            remaining_q=self._volume_q,
            withdrawn_q=self._withdrawn_q,
            infused_pgq=self._infused_pgq,
        )

    def battery_ppm(self) -> int:
        left = self._battery_capacity - self._battery_used
        return max(0, left * PPM // self._battery_capacity)

    def next_event_us(self) -> int | None:
        """When the pump will next change by itself, if nothing else happens."""
        return None if self._next_event_us >= NEVER else self._next_event_us

    # -- time ----------------------------------------------------------------------------

    def advance_to(self, t_us: int) -> None:
        """Integrate exactly up to ``t_us``, applying everything that happens at or before it."""
        if t_us < self._t:
            raise ValueError(f"time runs forward only: {t_us} µs is before {self._t} µs")
        same_instant = 0
        while self._next_event_us <= t_us:
            if self._next_event_us == self._t:
                same_instant += 1
                if same_instant > MAX_EVENTS_PER_INSTANT:
                    raise RuntimeError(f"pump model made no progress at {self._t} us")
            else:
                same_instant = 0
            self._integrate(self._next_event_us - self._t)
            self._on_instant()
        self._integrate(t_us - self._t)

    def advance_through(self, t_us: int, state: str) -> bool:
        """``advance_to(t_us)`` an instant at a time, stopping after the first instant that
        leaves the pump in ``state`` (end of service, say); True when it stopped there."""
        fsm = self._fsm
        while self._t < t_us:
            next_us = self._next_event_us
            if next_us > t_us or next_us < self._t:
                self.advance_to(t_us if next_us >= NEVER else min(t_us, next_us))
            else:
                # advance_to(next_us), inline: the event loop of a whole service life runs
                # through here, one instant at a time.
                same_instant = 0
                while self._next_event_us <= next_us:
                    if self._next_event_us == self._t:
                        same_instant += 1
                        if same_instant > MAX_EVENTS_PER_INSTANT:
                            raise RuntimeError(f"pump model made no progress at {self._t} us")
                    else:
                        same_instant = 0
                    self._integrate(self._next_event_us - self._t)
                    self._on_instant()
            if fsm.state == state:
                return True
        return fsm.state == state

    def _integrate(self, dt_us: int) -> None:
        if not dt_us:
            return
        t_to = self._t + dt_us
        window = self._window
        lagged = self._lagged_flow
        if lagged is None:
            flow = self._flow
            if flow:
                pumped_q = flow * dt_us
                self._volume_q -= pumped_q
                self._pumped_q += pumped_q
                self._infused_pgq += self._catheter.pump(pumped_q, self._concentration)
            self._battery_used += self._drain * dt_us
            if window.lagged:
                window.advance(dt_us, t_to)
            elif window.slope:  # constant: exact integers, inline for speed
                window.value += window.slope * dt_us
        else:
            # Pumped since the segment start, rounded up, less what is already counted: the
            # increments telescope, so the total never depends on how time was sliced.
            before = self._segment_pumped_q
            since_start = lagged.integral(self._segment_start_us, t_to, upper=True)
            pumped_q = since_start - before
            if pumped_q < 0:
                pumped_q = 0
            self._segment_pumped_q = before + pumped_q
            self._volume_q -= pumped_q
            self._pumped_q += pumped_q
            self._infused_pgq += self._catheter.pump(pumped_q, self._concentration)
            self._battery_used += QUANTA_PER_NL * dt_us + self._battery_us_per_nl * pumped_q
            g = window.g
            start = window.start_us
            if g.lag is lagged.lag and g.heat == lagged.heat and start == self._segment_start_us:
                # The window's integrand is this flow less a constant (_plan): its integral
                # over the same interval is the pump's, less that constant times the span,
                # to the quantum (Flow.integral), without a second evaluation.
                window.advance_lead(t_to, since_start - (lagged.base - g.base) * (t_to - start))
            else:
                window.advance(dt_us, t_to)
        self._t = t_to

    def _on_instant(self) -> None:
        t = self._t
        self._window.pass_edges(t)
        timers = self._timers
        due = [name for name, at in timers.items() if at <= t]
        for name in due:
            del timers[name]
            _TIMER_HANDLERS[name](self)
        self._settle()

    def _settle(self) -> None:
        """Apply the consequences of the present instant, then plan the next segment."""
        t = self._t
        state = self._fsm.state
        if self._eri_us is None and self._battery_used >= self._eri_threshold:
            self._eri_us = t
            self._timers["eos"] = t + self.config.eri_to_eos_us
        eos = self._eri_us is not None and t >= self._eri_us + self.config.eri_to_eos_us
        if eos and state != sm.END_OF_SERVICE:
            self._end_boluses("end of service")
            self._trigger("battery_depleted")
        empty = self._concentration > 0 and self._volume_q <= self._empty_q
        state = self._fsm.state
        if empty and state in sm.DELIVERING:
            self._end_boluses("reservoir empty")
            self._trigger("reservoir_emptied")
        state = self._fsm.state
        if self._blocked and state in sm.DELIVERING:
            self._end_boluses("motor stall")
            self._trigger("motor_stalled")
            self._record("motor_stall", causes=sorted(self._blocked))
        elif state == sm.SUSPENDED and not self._blocked and self._trigger("motor_recovered"):
            # The table holds a pump awaiting interrogation after an MRI (state_machine.py).
            self._record("motor_recovered")
        self._plan()  # first: under a heat lag the over-infusion condition looks ahead
        self._update_alarms(empty, eos)

    def _update_alarms(self, empty: bool, eos: bool) -> None:
        low = self._concentration > 0 and self._volume_q <= self._low_q
        eri = self._eri_us is not None
        stall = self._fsm.state == sm.SUSPENDED
        over = self._over_now  # _plan has just asked the window, at this instant
        panel = self._alarms
        active = panel.active
        if not active and not (low or empty or eri or eos or stall or over):
            return  # the usual instant: nothing raised, nothing to raise
        if len(active) == low + empty + eri + eos + stall + over:
            # As many active as called for: nothing changes if each active one is called for
            # (looked at by identity: an Enum hashes in Python, six times an instant).
            for alarm in active:
                if not (
                    (alarm is Alarm.OVER_INFUSION and over)
                    or (alarm is Alarm.LOW_RESERVOIR and low)
                    or (alarm is Alarm.EMPTY_RESERVOIR and empty)
                    or (alarm is Alarm.BATTERY_ERI and eri)
                    or (alarm is Alarm.END_OF_SERVICE and eos)
                    or (alarm is Alarm.MOTOR_STALL and stall)
                ):
                    break
            else:
                return
        t, clock_us = self._t, self.clock_us
        conditions = (
            (Alarm.LOW_RESERVOIR, low),
            (Alarm.EMPTY_RESERVOIR, empty),
            (Alarm.BATTERY_ERI, eri),
            (Alarm.END_OF_SERVICE, eos),
            (Alarm.MOTOR_STALL, stall),
            (Alarm.OVER_INFUSION, over),
        )
        for alarm, condition in conditions:
            change = panel.set_condition(alarm, condition, t, clock_us)
            if change is True:
                self._record("alarm", alarm=alarm.value, critical=alarm.critical)
            elif change is False:
                self._record("alarm_cleared", alarm=alarm.value)

    def _plan(self, *, resume: bool = False) -> None:
        """Rates for the segment that starts now, and the instant it ends.

        ``resume`` (a restored pump) keeps the saved segment's start, so that every instant is
        solved from the same origin, with the same arithmetic, as before it was saved.
        """
        t = self._t
        fsm = self._fsm
        state = fsm.state
        if state in sm.DELIVERING:
            motor = (
                self._basal_rate + self._patient_rate if state == sm.INFUSING else self._bolus_rate
            )
            programmed = motor
        else:
            motor = 0
            programmed = self._basal_rate if state == sm.SUSPENDED and fsm.basal_on else 0
        window = self._window
        if not resume:
            self._segment_start_us = t
            self._segment_pumped_q = 0
            window.begin_segment(t)
        excess = programmed * self._tolerance_factor
        lagged: Flow | None = None
        if self._lag_shapes_flow and motor:
            heat = motor * self.config.heat_coefficient_ppb_per_mc
            lag = self._lag
            base = motor * PPB
            lagged = self._lagged_flow
            if (
                lagged is None
                or lagged.lag is not lag
                or lagged.base != base
                or lagged.heat != heat
            ):
                lagged = Flow(base, heat, lag)  # else the same value: kept, not built again
            g = window.g
            if g.lag is not lag or g.base != base - excess or g.heat != heat:
                window.set_integrand(t, lagged.minus(excess))
            self._flow, self._lagged_flow = 0, lagged
        else:
            rate = motor * self._multiplier_ppb
            window.set_constant_integrand(t, rate - excess)
            self._flow, self._lagged_flow = rate, None
        # The segment ends at the earliest of: a timer, the window's next trailing edge, G
        # crossing zero, and (below) a reservoir threshold or battery ERI.
        timers = self._timers
        next_us = min(timers.values()) if timers else NEVER
        changes = window.changes
        if changes:
            next_us = min(next_us, changes[0][0] + window.window_us)
        if window.lagged:
            sign = window.sign_until(next_us)
            if sign is None:
                over = window.over(window.start_us)
                crossing = window.next_crossing_us(over, next_us)
                if crossing is not None:
                    next_us = min(next_us, crossing)
            else:
                over = sign  # G keeps its sign to the horizon: no crossing to solve for
        else:
            over = window.value > 0
            crossing = window.next_crossing_us(over, NEVER)  # closed form: no horizon
            if crossing is not None:
                next_us = min(next_us, crossing)
        self._over_now = over
        if lagged is not None:
            self._next_event_us = self._lagged_thresholds(lagged, next_us)
            return
        rate = self._flow
        drain = self._drain = QUANTA_PER_NL + self._battery_us_per_nl * rate
        if rate and self._concentration:
            volume = self._volume_q
            if volume > self._low_q:  # t + ceil((volume - low) / rate), as below
                next_us = min(next_us, t - (self._low_q - volume) // rate)
            if volume > self._empty_q:
                next_us = min(next_us, t - (self._empty_q - volume) // rate)
        if self._eri_us is None:
            next_us = min(next_us, t - (self._battery_used - self._eri_threshold) // drain)
        self._next_event_us = next_us

    def _lagged_thresholds(self, flow: Flow, until: int) -> int:
        """The segment's end under a lagged flow: the earliest of ``until`` and the instants
        the reservoir thresholds and battery ERI are reached, solved from the segment start."""
        t0 = self._segment_start_us
        pumped_q = self._segment_pumped_q
        # Whether even the fastest the flow can run until ``until`` reaches no reservoir
        # threshold nor battery ERI: then ``first_reaching`` would find none, and is not
        # asked. A first look takes the fastest rate from now on, for ever; a second, the
        # fastest until ``until`` (the window's interval: the curve is looked at once).
        horizon = until - t0
        if horizon > 0:
            ceiling = flow.ceiling(t0)
            if ceiling is not None and self._reaches_nothing(t0, horizon, *ceiling):
                return until
            bounds = flow.rate_range(t0, until + 1)
            if bounds is not None and self._reaches_nothing(t0, horizon, bounds[1], bounds[2]):
                return until
        if self._concentration:
            volume0 = self._volume_q + pumped_q
            for level in (self._low_q, self._empty_q):
                if volume0 > level:
                    at = flow.first_reaching(t0, volume0 - level, until)
                    until = until if at is None else at
        if self._eri_us is None:
            per_nl = self.config.battery_us_per_nl
            used0 = self._battery_used - QUANTA_PER_NL * (self._t - t0) - per_nl * pumped_q
            at = flow.first_reaching(
                t0, self._eri_threshold - used0, until, per_us=QUANTA_PER_NL, per_quantum=per_nl
            )
            until = until if at is None else at
        return until

    def _reaches_nothing(self, t0: int, horizon: int, high: float, scale: float) -> bool:
        """At ``high`` quanta per µs at most (``scale``: see flow.slack) from ``t0`` for
        ``horizon``, no reservoir threshold nor battery ERI is reached."""
        most_q = high * horizon + slack(scale, horizon)
        most_q += BOUND_SLACK * abs(most_q)
        pumped_q = self._segment_pumped_q
        if self._concentration:
            volume0 = self._volume_q + pumped_q
            for level in (self._low_q, self._empty_q):
                if volume0 > level and most_q >= volume0 - level:
                    return False
        if self._eri_us is None:
            per_nl = self._battery_us_per_nl
            used0 = self._battery_used - QUANTA_PER_NL * (self._t - t0) - per_nl * pumped_q
            most = QUANTA_PER_NL * horizon + per_nl * most_q
            if per_nl < 0 or most + BOUND_SLACK * most >= self._eri_threshold - used0:
                return False
        return True

    # -- timers --------------------------------------------------------------------------

    def _on_bolus_end(self) -> None:
        self._record("bolus_completed", bolus=self._bolus_kind)
        self._bolus_rate = 0
        self._bolus_kind = ""
        self._trigger("bolus_done")

    def _on_patient_bolus_end(self) -> None:
        self._patient_rate = 0
        self._record("patient_bolus_completed")

    def _on_exposure_end(self) -> None:
        self._record("temperature", celsius=BODY_TEMPERATURE_MC / 1_000)
        self._retarget(BODY_TEMPERATURE_MC)

    def _on_thermal(self) -> None:
        """The lagged temperature crossed 37 °C or settled: the flow changes form."""
        lag = self._lag
        if self._t >= lag.settle_us(self._settle_bound_mc):
            lag = Lag(lag.target_mc, 0.0, self._t, lag.tau_us)
        self._set_lag(lag)  # past 37 °C on the way down, it no longer shapes the flow
        self._schedule_thermal()

    def _on_scan_end(self) -> None:
        """From now on an interrogation releases a pump held after this MRI [S TGA]."""
        self._fsm.scan_over = True

    def _on_unblock(self) -> None:
        t = self._t
        for cause in [c for c, until in self._blocked.items() if until <= t]:
            del self._blocked[cause]
            self._record(f"{cause}_ended")
        if self._blocked:
            self._timers["unblock"] = min(self._blocked.values())
        elif self._fsm.state != sm.SUSPENDED:
            self._fsm.awaiting_interrogation = False

    def _on_eos(self) -> None:
        """Nothing to do: ``_settle`` sees the instant has come."""

    # -- requests ------------------------------------------------------------------------

    @request("refill")
    def refill(
        self,
        volume_nl: int,
        concentration_ug_per_ml: int,
        *,
        drug: str = "baclofen",
        measured_nl: int | None = None,
        prescription: Prescription | None = None,
    ) -> None:
        """Withdraw what is left, measure it, and fill with ``volume_nl`` of drug.

        A new concentration needs the dose re-entered in the same refill (``prescription``),
        so the rate is recomputed: ISMP reports of tenfold errors [S].
        """
        self._require("refill")
        limits = interlocks.drug_limits(self.config, drug)
        interlocks.check_concentration(limits, concentration_ug_per_ml)
        capacity = self.config.reservoir_capacity_nl
        if not 0 < volume_nl <= capacity:
            refuse(Refusal.OUT_OF_RANGE, f"volume {volume_nl} nL outside 1..{capacity} nL")
        if measured_nl is not None and not 0 <= measured_nl <= capacity:
            refuse(
                Refusal.OUT_OF_RANGE,
                f"measured volume {measured_nl} nL outside 0..{capacity} nL (the reservoir)",
            )
        changes_concentration = concentration_ug_per_ml != self._concentration or drug != self._drug
        if changes_concentration and self._basal is not None and prescription is None:
            refuse(
                Refusal.DOSE_REENTRY_REQUIRED,
                f"new concentration {concentration_ug_per_ml} ug/mL: re-enter the dose",
            )
        if prescription is not None:
            interlocks.check_prescription(
                self.config, prescription, concentration_ug_per_ml, limits, self._in_force()
            )
        expected_nl = quanta_to_nl(self._volume_q)
        measured = expected_nl if measured_nl is None else measured_nl
        self._withdrawn_q += self._volume_q
        self._volume_q = nl_to_quanta(volume_nl)
        self._filled_q += self._volume_q
        self._concentration = concentration_ug_per_ml
        self._drug = drug
        self._record(
            "refill",
            drug=drug,
            expected_nl=expected_nl,
            measured_nl=measured,
            discrepancy_nl=measured - expected_nl,
            added_nl=volume_nl,
            concentration_ug_per_ml=concentration_ug_per_ml,
        )
        if abs(measured - expected_nl) > self.config.refill_discrepancy_nl:
            self._record("refill_discrepancy", expected_nl=expected_nl, measured_nl=measured)
        if changes_concentration and self._patient_rate:
            self._cancel_patient_bolus("concentration changed")
        if prescription is not None:
            self._set_prescription(prescription)
        else:
            self._update_basal_rate()
        self._trigger("refill")
        self._settle()

    @request("program")
    def program(self, basal: Basal, *, start: bool = False) -> None:
        """Program a basal prescription (continuous or flex). An infusing pump delivers it at
        once; a stopped pump stays stopped unless ``start`` (issue 8, point 2)."""
        self._require("program")
        self._require_drug()
        limits = interlocks.drug_limits(self.config, self._drug)
        interlocks.check_basal(
            self.config, basal, self._concentration, limits, self._in_force(), self._limits
        )
        self._set_basal(basal)
        self._commit_program(start)

    def set_dose(self, dose_ug_per_day: int) -> int:
        """Program simple continuous delivery and start it; return the rate in nL/day."""
        self.program(Continuous(dose_ug_per_day), start=True)
        return self._basal_rate

    def prescription(self) -> Prescription | None:
        if self._basal is None:
            return None
        return Prescription(self._basal, self._limits, self.low_reservoir_nl)

    @request("stage")
    def check_prescription(self, prescription: Prescription) -> None:
        """Everything ``apply_prescription`` would refuse, refused now; nothing changes."""
        self._require("program")
        self._require_drug()
        limits = interlocks.drug_limits(self.config, self._drug)
        interlocks.check_prescription(
            self.config, prescription, self._concentration, limits, self._in_force()
        )

    @request("program")
    def apply_prescription(self, prescription: Prescription, *, start: bool = False) -> None:
        """One programming transaction: basal, patient limits and alarm volume, or nothing.

        It keeps the pump's state: a stopped pump stays stopped, an infusing one delivers the
        new basal. With ``start`` a stopped pump also starts delivering it (issue 8, point 2).
        """
        self._require("program")
        self._require_drug()
        limits = interlocks.drug_limits(self.config, self._drug)
        interlocks.check_prescription(
            self.config, prescription, self._concentration, limits, self._in_force()
        )
        self._set_prescription(prescription)
        self._commit_program(start)

    def _commit_program(self, start: bool) -> None:
        if start and self._fsm.state == sm.STOPPED:
            self._fsm.basal_on = True
        self._trigger("program", start=start)
        self._settle()

    @request("start")
    def start(self) -> None:
        """Resume the programmed basal after a stop."""
        self._require("start")
        if self._basal is None:
            refuse(Refusal.NOT_PERMITTED, "nothing programmed to start")
        self._require_drug()
        self._fsm.basal_on = True
        self._update_basal_rate()
        self._trigger("start")
        self._settle()

    @property
    def clock_us(self) -> int:
        """The pump's clock: model time plus the offset the programmer set (Unix time)."""
        return self._t + self._clock_offset_us

    @request("set_clock")
    def set_clock(self, clock_us: int) -> None:
        self._require("set_clock")
        if not MIN_CLOCK_S * US_PER_S <= clock_us <= MAX_CLOCK_S * US_PER_S:
            refuse(
                Refusal.OUT_OF_RANGE,
                f"clock {Decimal(clock_us) / US_PER_S} s outside {MIN_CLOCK_S}..{MAX_CLOCK_S} s "
                "(2000-01-01 to 2099-12-31 UTC)",
            )
        before = self.clock_us
        self._clock_offset_us = clock_us - self._t
        self._record("clock_set", previous_s=before // US_PER_S, clock_s=clock_us // US_PER_S)
        self._update_basal_rate()
        self._settle()

    def record_refused(self, request: str, reason: str, message: str) -> None:
        """Audit an authenticated request refused before it reached the pump (by the device,
        say): a clinical entry. A frame nobody authenticated is the link's business: write it
        as ``record_event("link_refused", reason=..., message=...)``, a link entry."""
        self._record("refused", request=request, reason=reason, message=message)

    @request("stop")
    def stop(self, *, confirm: bool) -> None:
        self._require("stop")
        if not confirm:
            refuse(
                Refusal.CONFIRMATION_REQUIRED,
                "stopping risks baclofen withdrawal; confirm to stop",
            )
        self._end_boluses("stopped")
        self._fsm.basal_on = False
        self._trigger("stop")
        self._settle()

    @request("bolus")
    def clinician_bolus(self, dose_ug: int, duration_us: int) -> None:
        """A single bolus that replaces the basal for its duration, then therapy resumes."""
        self._require("start_bolus")
        self._require_drug()
        interlocks.check_bolus_dose(
            interlocks.drug_limits(self.config, self._drug), dose_ug, "bolus"
        )
        rate = interlocks.bolus_rate(self.config, dose_ug, duration_us, self._concentration)
        volume_nl = volume_nl_for_dose(dose_ug, self._concentration)
        self._bolus_info = BolusInfo(volume_nl, rate, duration_us)
        self._start_bolus("clinician", rate, duration_us, dose_ug=dose_ug, volume_nl=volume_nl)

    @request("prime")
    def prime(self, volume_nl: int | None = None) -> None:
        """Priming bolus: fill tubing and catheter at a high rate before therapy starts."""
        self._require("start_priming")
        self._require_drug()
        volume = self.config.catheter_volume_nl if volume_nl is None else volume_nl
        if not 0 < volume <= NL_PER_ML:
            refuse(Refusal.OUT_OF_RANGE, f"priming volume {volume} nL outside 1..{NL_PER_ML}")
        rate = self.config.priming_rate_nl_per_day
        duration_us = ceil_div(volume * US_PER_DAY, rate)
        self._bolus_info = BolusInfo(volume, rate, duration_us)
        self._start_bolus("priming", rate, duration_us, volume_nl=volume)

    @request("patient_limits")
    def set_patient_limits(self, limits: PatientLimits) -> None:
        self._require("set_limits")
        drug = interlocks.drug_limits(self.config, self._drug or "baclofen")
        interlocks.check_patient_limits(self.config, limits, drug, self._basal, self._concentration)
        self._limits = limits
        self._record_limits()
        self._settle()

    @request("patient_bolus")
    def patient_bolus(self) -> None:
        """Patient-activated bolus on top of the basal, within the programmed limits."""
        self._require("patient_bolus")
        limits = self._limits
        if limits is None:
            refuse(Refusal.NOT_PERMITTED, "no patient bolus programmed")
        self._require_drug()
        t = self._t
        recent = [start for start in self._patient_starts if start > t - US_PER_DAY]
        if recent and t < recent[-1] + limits.lockout_us:
            wait_s = ceil_div(recent[-1] + limits.lockout_us - t, US_PER_S)
            refuse(
                Refusal.LOCKOUT,
                f"locked out: the next patient bolus is possible in {spoken_duration(wait_s)}",
            )
        if len(recent) >= limits.max_per_day:
            refuse(
                Refusal.DAILY_LIMIT,
                f"{limits.max_per_day} patient boluses already in the last 24 h",
            )
        rate = interlocks.bolus_rate(
            self.config, limits.dose_ug, limits.duration_us, self._concentration
        )
        interlocks.check_rate(self.config, self._basal_rate + rate, "basal plus patient bolus")
        self._patient_starts = deque([*recent, t])
        self._patient_rate = rate
        volume_nl = volume_nl_for_dose(limits.dose_ug, self._concentration)
        self._patient_info = BolusInfo(volume_nl, rate, limits.duration_us)
        self._timers["patient_bolus_end"] = t + limits.duration_us
        self._record("patient_bolus_started", dose_ug=limits.dose_ug)
        self._settle()

    @request("low_reservoir_alarm")
    def set_low_reservoir_alarm(self, volume_nl: int) -> None:
        """The low-reservoir alarm volume is programmable [S]."""
        self._require("set_limits")
        interlocks.check_low_reservoir(self.config, volume_nl)
        self._low_q = nl_to_quanta(volume_nl)
        self._record("low_reservoir_alarm_set", volume_nl=volume_nl)
        self._settle()

    @request("acknowledge")
    def acknowledge(self, alarm: Alarm) -> None:
        self._require("acknowledge")
        if not self._alarms.acknowledge(alarm):
            refuse(Refusal.NO_SUCH_ALARM, f"{alarm.value} is not active")
        self._record("alarm_acknowledged", alarm=alarm.value)

    @request("interrogate")
    def interrogate(self) -> None:
        """A telemetry session: costs battery; made after an MRI scan has ended, it releases a
        pump held because it was alarming when the scan began (state_machine.py)."""
        self._require("interrogate")
        self._battery_used += self.config.battery_us_per_session * QUANTA_PER_NL
        self._record("interrogation")
        self._trigger("interrogate")
        self._settle()

    # -- environment (physical events, never refused for the pump's state) ---------------

    @request("temperature")
    def expose_temperature(self, temperature_mc: int, duration_us: int) -> None:
        """Pump body at ``temperature_mc`` for ``duration_us`` (hot tub, heating pad, fever)."""
        if not MIN_TEMPERATURE_MC <= temperature_mc <= MAX_TEMPERATURE_MC:
            refuse(
                Refusal.OUT_OF_RANGE, f"temperature {temperature_mc / 1000:g} C outside 20..50 C"
            )
        _require_positive(duration_us)
        self._timers["exposure_end"] = self._t + duration_us
        self._record("temperature", celsius=temperature_mc / 1_000)
        self._retarget(temperature_mc)
        self._settle()

    @request("mri")
    def mri(self, duration_us: int) -> None:
        """An MRI scan stops the rotor for its duration plus the recovery delay [S]."""
        _require_positive(duration_us)
        if self._alarms.active:
            # TGA hazard alert [S]: alarming at the scan's start, it resumes only when
            # interrogated after the scan (state_machine.py: awaiting_interrogation).
            self._fsm.awaiting_interrogation = True
        self._fsm.scan_over = False
        scan_end_us = self._t + duration_us
        self._timers["scan_end"] = max(self._timers.get("scan_end", scan_end_us), scan_end_us)
        self._block("mri", duration_us + self.config.mri_recovery_delay_us)

    @request("occlusion")
    def occlude(self, duration_us: int) -> None:
        """A catheter occlusion: the motor stalls against it until it clears."""
        _require_positive(duration_us)
        self._block("occlusion", duration_us)

    @request("battery")
    def drain_battery(self, battery_ppm: int) -> None:
        """The battery as if it had run down to ``battery_ppm`` of its capacity: a test rig's
        way to reach ERI without simulating years. A battery is never recharged in the body,
        so it only goes down."""
        if not 0 <= battery_ppm <= PPM:
            refuse(Refusal.OUT_OF_RANGE, f"battery {battery_ppm / PPM:g} outside 0..1")
        used = (PPM - battery_ppm) * self._battery_capacity // PPM
        if used < self._battery_used:
            refuse(
                Refusal.OUT_OF_RANGE,
                f"battery {battery_ppm / PPM:g} above its present {self.battery_ppm() / PPM:g}: "
                "an implanted battery is never recharged",
            )
        self._battery_used = used
        self._record("battery_drained", fraction=battery_ppm / PPM)
        self._settle()

    # -- internals -----------------------------------------------------------------------

    def _block(self, cause: str, duration_us: int) -> None:
        until = max(self._blocked.get(cause, 0), self._t + duration_us)
        self._blocked[cause] = until
        self._timers["unblock"] = min(self._blocked.values())
        self._record(f"{cause}_started", duration_s=duration_us / US_PER_S)
        self._settle()

    def _start_bolus(self, kind: str, rate: int, duration_us: int, **detail: int) -> None:
        self._cancel_patient_bolus("clinician bolus")
        self._bolus_rate = rate
        self._bolus_kind = kind
        self._timers["bolus_end"] = self._t + duration_us
        self._record("bolus_started", bolus=kind, duration_s=duration_us / US_PER_S, **detail)
        self._trigger("start_priming" if kind == "priming" else "start_bolus")
        self._settle()

    def _end_boluses(self, why: str) -> None:
        if self._fsm.state in (sm.BOLUS, sm.PRIMING):
            self._timers.pop("bolus_end", None)
            self._record("bolus_cancelled", bolus=self._bolus_kind, reason=why)
            self._bolus_rate = 0
            self._bolus_kind = ""
        self._cancel_patient_bolus(why)

    def _cancel_patient_bolus(self, why: str) -> None:
        if self._patient_rate:
            self._timers.pop("patient_bolus_end", None)
            self._patient_rate = 0
            self._record("patient_bolus_cancelled", reason=why)

    def _set_prescription(self, prescription: Prescription) -> None:
        if prescription.patient != self._limits:
            self._limits = prescription.patient
            self._record_limits()
        low_q = nl_to_quanta(prescription.low_reservoir_nl)
        if low_q != self._low_q:
            self._low_q = low_q
            self._record("low_reservoir_alarm_set", volume_nl=prescription.low_reservoir_nl)
        self._set_basal(prescription.basal)

    def _record_limits(self) -> None:
        limits = self._limits
        if limits is None:
            self._record("patient_limits", dose_ug=0)
            return
        self._record(
            "patient_limits",
            dose_ug=limits.dose_ug,
            duration_s=limits.duration_us // US_PER_S,
            lockout_s=limits.lockout_us // US_PER_S,
            max_per_day=limits.max_per_day,
        )

    def _in_force(self) -> InForce | None:
        """The daily totals in force over the last 24 h, for the dose-change cap."""
        return self._doses.in_force(self._t, self._clock_offset_us)

    def _set_basal(self, basal: Basal) -> None:
        """The basal to deliver; whether it runs (``basal_on``) is the caller's business."""
        self._basal = basal
        self._doses.record(self._t, basal.dose_seconds_per_day(), self._clock_offset_us)
        self._update_basal_rate()
        if isinstance(basal, Flex):
            detail: dict[str, object] = {
                "mode": "flex",
                "steps": [[s.start_s, s.dose_ug_per_day] for s in basal.steps],
            }
        else:
            detail = {"mode": "continuous", "dose_ug_per_day": basal.dose_ug_per_day}
        self._record("programmed", **detail)

    def _update_basal_rate(self) -> None:
        basal = self._basal
        if basal is None or not self._concentration:
            self._basal_rate = 0
            self._timers.pop("flex_step", None)
            return
        t = self._t
        clock_us = t + self._clock_offset_us
        second = (clock_us // US_PER_S) % S_PER_DAY  # _second_of_day(), inline
        rates = self._rates
        if basal is not self._rates_basal:
            rates.clear()  # by identity: hashing a schedule would cost more than its lookup
            self._rates_basal = basal
        key = (self._concentration, second)
        known = rates.get(key)
        if known is None:
            dose, next_change_s = basal.dose_and_next_change_s(second)
            known = (rate_for_dose(dose, self._concentration), next_change_s)
            if len(rates) >= RATES_MEMO_SIZE:
                rates.clear()
            rates[key] = known
        self._basal_rate, next_change_s = known
        if next_change_s is None:
            self._timers.pop("flex_step", None)
        else:
            into_second = clock_us % US_PER_S
            self._timers["flex_step"] = t + next_change_s * US_PER_S - into_second

    def _second_of_day(self) -> int:
        return ((self._t + self._clock_offset_us) // US_PER_S) % S_PER_DAY

    def _retarget(self, target_mc: int) -> None:
        """The surroundings change: the body heads for ``target_mc`` from where it is now."""
        self._set_lag(self._lag.toward(target_mc, self._t, self._settle_bound_mc))
        self._schedule_thermal()

    def _set_lag(self, lag: Lag) -> None:
        """The body's temperature curve, and what it means for the flow (cached for speed)."""
        self._lag = lag
        coefficient = self.config.heat_coefficient_ppb_per_mc
        self._lag_shapes_flow = coefficient > 0 and lag.warm_from(self._t)
        self._multiplier_ppb = PPB + coefficient * max(0, lag.target_mc - BODY_TEMPERATURE_MC)

    def _schedule_thermal(self) -> None:
        lag = self._lag
        if lag.settled:
            self._timers.pop("thermal", None)
        else:
            self._timers["thermal"] = lag.next_change_us(self._t, self._settle_bound_mc)

    def require_state(self, trigger: str, request: str) -> None:
        """Refuse, and log, a request the state does not allow, before anything else about it
        is looked at: the state is always the first check (docs/protocol.md, section 7)."""
        try:
            self._require(trigger)
        except PumpRefusal as refusal:
            self._record(
                "refused", request=request, reason=refusal.reason.value, message=refusal.message
            )
            raise

    def _require(self, trigger: str) -> None:
        if not sm.allowed(trigger, self._fsm.state):
            refuse(
                Refusal.WRONG_STATE,
                f"{trigger.replace('_', ' ')} not allowed while {self._fsm.state}",
            )

    def _require_drug(self) -> None:
        if self._concentration == 0 or self._volume_q <= self._empty_q:
            refuse(Refusal.NO_DRUG, "reservoir holds no usable drug; refill first")

    def _trigger(self, trigger: str, **data: object) -> bool:
        """Fire a trigger of the table; True when a transition (internal or not) ran."""
        before = self._fsm.state
        ran: bool = self._fsm.trigger(trigger, **data)  # type: ignore[attr-defined]
        after = self._fsm.state
        if after != before:
            self._record("state", state=after, previous=before, trigger=trigger)
        return ran

    def _record(self, kind: str, **detail: object) -> None:
        self.log.append(LogEntry(self._t, kind, detail, self.clock_us))


def _require_positive(duration_us: int) -> None:
    if duration_us <= 0:
        refuse(Refusal.OUT_OF_RANGE, "duration must be positive")


_TIMER_HANDLERS: dict[str, Callable[[Pump], None]] = {
    "bolus_end": Pump._on_bolus_end,
    "patient_bolus_end": Pump._on_patient_bolus_end,
    "flex_step": Pump._update_basal_rate,  # a flex step: the rate of the next one
    "exposure_end": Pump._on_exposure_end,
    "thermal": Pump._on_thermal,
    "scan_end": Pump._on_scan_end,
    "unblock": Pump._on_unblock,
    "eos": Pump._on_eos,
}
