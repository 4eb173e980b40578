"""What the pump remembers for speed never changes what it does (issue 11 review).

The flex rates by second of day (``Pump._rates``) and the window's bounds by span
(``ExcessWindow._bounds_memo``) are kept across steps. A pump that forgets both before every
step must end where one that keeps them ends, bit for bit, through schedule, concentration
and clock changes mid-day, heat lags, boluses and a state saved and restored.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_model import Flex, FlexStep, Pump, PumpConfig, PumpRefusal
from firmware_model.persistence import from_plain, to_plain
from tests.model.helpers import DAY, HOUR, MINUTE, SECOND
from tests.model.programs import actions, doses

pytestmark = pytest.mark.timeout(60)

flex_seconds = st.lists(
    st.tuples(st.integers(0, 24 * 3600 - 1), doses),
    min_size=1,
    max_size=4,
    unique_by=lambda s: s[0],
).map(lambda steps: Flex(tuple(FlexStep(s, d) for s, d in sorted(steps))))
extra = st.one_of(
    flex_seconds.map(lambda f: (f"flex {f}", lambda p: p.program(f, start=True))),
    flex_seconds.map(lambda f: (f"flex {f} stopped", lambda p: p.program(f))),
    st.integers(-DAY, DAY).map(
        lambda d: (f"clock {d:+}", lambda p: p.set_clock(max(0, p.clock_us + d)))
    ),
    st.just(("same prescription, stronger", lambda p: p.refill(1_000_000, 2000,
                                                               prescription=p.prescription()))),
    st.just(("save and restore", None)),
)  # fmt: skip
gaps = st.one_of(st.integers(0, 5 * SECOND), st.integers(0, 3 * HOUR), st.integers(0, 2 * DAY))


def forget(pump: Pump) -> None:
    pump._rates.clear()
    pump._rates_basal = None
    pump._window._bounds_memo.clear()
    pump._window._bounds_of = None


def step(pump: Pump, at: int, name: str, action: object) -> Pump:
    pump.advance_to(at)
    if action is None:
        return from_plain(json.loads(json.dumps(to_plain(pump))))
    with contextlib.suppress(PumpRefusal):
        action(pump)  # type: ignore[operator]
    return pump


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(gaps, st.one_of(actions, extra)), min_size=1, max_size=10),
    st.sampled_from([0, 25 * MINUTE]),
)
def test_a_pump_that_forgets_its_memos_ends_where_one_that_keeps_them_ends(
    program: list[tuple[int, tuple[str, object]]], tau_us: int
) -> None:
    config = PumpConfig(thermal_time_constant_us=tau_us)
    kept, fresh = Pump(config), Pump(config)
    for p in (kept, fresh):
        p.refill(20_000_000, 500)
    t = 0
    for gap, (name, action) in program:
        t += gap
        kept = step(kept, t, name, action)
        forget(fresh)
        fresh = step(fresh, t, name, action)
        assert kept.status() == fresh.status(), name
        assert kept.status_reading() == fresh.status_reading(), name
    kept.advance_to(t + 3 * DAY)
    forget(fresh)
    fresh.advance_to(t + 3 * DAY)
    assert to_plain(kept) == to_plain(fresh)
    assert [(e.t_us, e.kind, e.detail) for e in kept.log] == [
        (e.t_us, e.kind, e.detail) for e in fresh.log
    ]
