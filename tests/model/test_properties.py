"""Properties over random programs and exposures (hypothesis)."""

from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_model import Alarm, Pump
from firmware_model import state_machine as sm
from firmware_model.persistence import from_plain, to_plain
from firmware_model.units import nl_to_quanta
from tests.model.helpers import DAY
from tests.model.programs import Timed, apply, assert_slicing_changes_nothing, programs, replay

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TAIL_US = 30 * DAY


def end_of(program: list[Timed]) -> int:
    return program[-1].at_us + TAIL_US


@SETTINGS
@given(programs())
def test_mass_balance_and_a_reservoir_that_never_goes_negative(program: list[Timed]) -> None:
    pump = Pump()
    for step in [*program, Timed(end_of(program), "end", lambda p: None)]:
        apply(pump, step)
        a = pump.accounts()
        # Filled = pumped + remaining + withdrawn, exactly: to the quantum, far below 1 nL.
        assert a.filled_q == a.pumped_q + a.remaining_q + a.withdrawn_q
        assert a.remaining_q >= 0
        assert a.pumped_q >= 0


@SETTINGS
@given(programs())
def test_nothing_is_pumped_unless_the_state_delivers(program: list[Timed]) -> None:
    pump = Pump()
    marks: list[tuple[str, int]] = []
    pump.log.listeners.append(lambda entry: marks.append((pump.state, pump.accounts().pumped_q)))
    for step in program:
        apply(pump, step)
        marks.append((pump.state, pump.accounts().pumped_q))
    pump.advance_to(end_of(program))
    marks.append((pump.state, pump.accounts().pumped_q))
    for (state, pumped), (_, next_pumped) in itertools.pairwise(marks):
        if state not in sm.DELIVERING:
            assert next_pumped == pumped, state


@SETTINGS
@given(programs(), st.data())
def test_slicing_time_changes_nothing(program: list[Timed], data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, end_of(program)), max_size=20))
    assert_slicing_changes_nothing(program, end_of(program), cuts, Pump)


def condition(pump: Pump, alarm: Alarm) -> bool:
    """The alarm's cause, computed here from the pump's exact accounts."""
    remaining_q = pump.accounts().remaining_q
    drug = pump.status().concentration_ug_per_ml > 0
    if alarm is Alarm.LOW_RESERVOIR:
        return drug and remaining_q <= pump._low_q
    if alarm is Alarm.EMPTY_RESERVOIR:
        return drug and remaining_q <= nl_to_quanta(pump.config.empty_nl)
    if alarm is Alarm.OVER_INFUSION:
        return pump._window.over(pump.t_us)  # value > 0; under a heat lag, by the next µs
    if alarm is Alarm.BATTERY_ERI:
        return pump._battery_used >= pump._eri_threshold
    if alarm is Alarm.END_OF_SERVICE:
        eri = pump._eri_us
        return eri is not None and pump.t_us >= eri + pump.config.eri_to_eos_us
    return pump.state == sm.SUSPENDED


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(max_actions=6))
def test_every_alarm_at_its_analytic_instant(program: list[Timed]) -> None:
    pump = replay(program, end_of(program))
    raised = [(e.t_us, Alarm(e.detail["alarm"])) for e in pump.log if e.kind == "alarm"]
    for t_us, alarm in raised[:6]:
        at = replay(program, t_us)
        assert condition(at, alarm), (alarm, t_us)
        if t_us > 0 and not any(s.at_us == t_us for s in program):
            # Not caused by a request at that instant: its cause became true right then.
            assert not condition(replay(program, t_us - 1), alarm), (alarm, t_us)


@SETTINGS
@given(programs(), st.data())
def test_state_round_trips_through_plain_data(program: list[Timed], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, end_of(program)))
    original = replay(program, cut)
    saved = json.loads(json.dumps(to_plain(original)))
    restored = from_plain(saved)
    assert to_plain(restored) == saved
    rest = [s for s in program if s.at_us > cut]
    replay(rest, end_of(program), original)
    replay(rest, end_of(program), restored)
    assert to_plain(restored) == to_plain(original)
