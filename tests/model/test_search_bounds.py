"""The bounds that spare the lagged searches (issue 11) never exclude what the exact arithmetic
reaches: a bound that did would move an alarm or a threshold, silently.

``Flow.rate_range`` brackets the rate over an interval; ``flow.slack`` is the room left for
the integral's rounding. Here every integral the pump could ask over the interval must lie
within them, and the window's ``sign_until`` must agree with G evaluated exactly.
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from firmware_model.flow import BOUND_QUANTA, BOUND_SLACK, Flow, slack
from firmware_model.heat import Lag
from firmware_model.over_infusion import ExcessWindow
from firmware_model.units import BODY_TEMPERATURE_MC, PPB

TAU_US = 40 * 60 * 1_000_000
HOUR_US = 3_600 * 1_000_000

lags = st.builds(
    Lag,
    target_mc=st.integers(30_000, 45_000),
    deviation_mc=st.floats(-8_000, 8_000, allow_nan=False),
    since_us=st.integers(0, 10 * HOUR_US),
    tau_us=st.sampled_from([60_000_000, TAU_US, 6 * HOUR_US]),
)
rates = st.integers(0, 24_000_000)  # nL/day: the pump's whole programmable range
heats = st.integers(0, 100_000)  # ppb per m°C


def flow_of(rate: int, minus: int, heat_ppb: int, lag: Lag) -> Flow:
    return Flow(rate * PPB - minus, rate * heat_ppb, lag)


@settings(max_examples=300, deadline=None)
@given(
    lag=lags,
    rate=rates,
    heat_ppb=heats,
    minus=st.integers(0, 30_000_000 * PPB),
    start_after_us=st.integers(0, 30 * HOUR_US),
    span_us=st.integers(1, 4 * HOUR_US),
    fractions=st.lists(st.floats(0, 1), min_size=1, max_size=6),
)
def test_every_integral_over_the_interval_lies_within_the_rate_range(
    lag: Lag,
    rate: int,
    heat_ppb: int,
    minus: int,
    start_after_us: int,
    span_us: int,
    fractions: list[float],
) -> None:
    flow = flow_of(rate, minus, heat_ppb, lag)
    a = lag.since_us + start_after_us
    bounds = flow.rate_range(a, a + span_us)
    assert bounds is not None
    low, high, scale = bounds
    for fraction in fractions:
        x = max(1, round(fraction * span_us))
        room = slack(scale, x) + BOUND_SLACK * abs(high * x)
        for upper in (True, False):
            integral = flow.integral(a, a + x, upper=upper)
            assert low * x - room <= integral <= high * x + room, (upper, x)


def test_the_range_is_none_before_the_curve_begins() -> None:
    lag = Lag(40_000, -3_000.0, 10 * HOUR_US, TAU_US)
    assert Flow(1, 1, lag).rate_range(10 * HOUR_US - 1, 11 * HOUR_US) is None


def test_a_warming_curve_is_bracketed_by_its_ends() -> None:
    lag = Lag(40_000, -3_000.0, 0, TAU_US)  # from 37 °C towards 40 °C
    bounds = lag.excess_range(0, HOUR_US)
    assert bounds is not None
    low, high, scale = bounds
    assert low == 0.0  # it starts at 37 °C
    assert high == 40_000 - BODY_TEMPERATURE_MC + lag.deviation_at(HOUR_US)  # where it is then
    assert 2_000 < high < 3_000
    assert scale == 6_000.0


@settings(max_examples=600, deadline=None)
@given(
    lead_lag=lags,
    trail_lag=lags,
    lead_rate=rates,
    trail_rate=rates,
    heat_ppb=heats,
    tolerance_ppb=st.integers(0, 300_000_000),
    start_value=st.integers(-(10**24), 10**24) | st.integers(-(10**18), 10**18),
    horizon_us=st.integers(1, 2 * HOUR_US),
    probes=st.lists(st.floats(0, 1), min_size=1, max_size=6),
)
def test_a_sign_the_bounds_promise_holds_at_every_microsecond_probed(
    lead_lag: Lag,
    trail_lag: Lag,
    lead_rate: int,
    trail_rate: int,
    heat_ppb: int,
    tolerance_ppb: int,
    start_value: int,
    horizon_us: int,
    probes: list[float],
) -> None:
    window = ExcessWindow(HOUR_US)
    t0 = max(lead_lag.since_us, trail_lag.since_us + HOUR_US)
    factor = PPB + tolerance_ppb
    window.g = flow_of(lead_rate, lead_rate * factor, heat_ppb, lead_lag)
    window.trailing = flow_of(trail_rate, trail_rate * factor, heat_ppb, trail_lag)
    window.refresh()
    window.value = start_value
    window.begin_segment(t0)
    sign = window.sign_until(t0 + horizon_us)
    event("sign known" if sign is not None else "sign unknown")
    if sign is None:
        return
    for probe in [0.0, 1.0, *probes]:
        x = 1 + round(probe * horizon_us)
        assert (window._from_start(x) > 0) is sign, x
        assert window.over(t0 + x - 1) is sign


def test_bounds_leave_room_far_above_the_rounding_margins() -> None:
    from firmware_model.flow import FLOAT_MARGIN, QUANTA_MARGIN

    assert BOUND_SLACK >= 1_000 * FLOAT_MARGIN
    assert BOUND_QUANTA >= 10 * (QUANTA_MARGIN + 1)


def test_the_bounds_a_window_remembers_follow_its_segment() -> None:
    """``_bounds`` remembers its answers for one segment: a new start, value or integrand
    must be answered afresh, as a window that never asked would answer."""
    lag = Lag(40_000, -3_000.0, 0, TAU_US)
    window = ExcessWindow(HOUR_US)
    window.g = flow_of(500_000, 500_000 * PPB, 50_000, lag)
    window.trailing = flow_of(400_000, 400_000 * PPB, 50_000, lag)
    window.refresh()
    t0 = 2 * HOUR_US
    for step, value in enumerate([-(10**20), 10**20, 10**20, 0]):
        window.value = value
        window.begin_segment(t0 + step * HOUR_US)
        if step == 2:
            window.g = flow_of(900_000, 500_000 * PPB, 50_000, lag)
        fresh = ExcessWindow(HOUR_US)
        fresh.g, fresh.trailing = window.g, window.trailing
        fresh.refresh()
        fresh.value = value
        fresh.begin_segment(window.start_us)
        for x_us in (1, HOUR_US, 1, HOUR_US):
            assert window._bounds(x_us) == fresh._bounds(x_us)
