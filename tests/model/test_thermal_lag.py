"""The heat lag, exactly: volumes, alarm and crossing instants against an independent oracle.

The oracle (tests/model/thermal_oracle.py) integrates the ODEs numerically at 0.1 s steps;
the model solves them in closed form. The model's delivered volume must lie within
[oracle - oracle tolerance, oracle + 1 nL + oracle tolerance]: never under-counted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal, getcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_model import Alarm, Continuous, Pump, PumpConfig
from firmware_model.persistence import from_plain, to_plain
from firmware_model.units import QUANTA_PER_NL, US_PER_S
from tests.model.helpers import HOUR, MINUTE, first
from tests.model.programs import Timed, apply, assert_slicing_changes_nothing, programs, replay
from tests.model.test_properties import condition
from tests.model.thermal_oracle import TOLERANCE_NL, Trajectory, first_above_s, simulate

K_PER_C = 0.08  # PumpConfig's default heat coefficient [M], per °C
CONCENTRATION = 1_000  # µg/mL: a dose in µg/day is a rate in µL/day
SOAK_START_S = 2 * 3_600  # the window is full of steady delivery by then


def lagged_config(tau_us: int) -> PumpConfig:
    return PumpConfig(thermal_time_constant_us=tau_us, max_dose_ug_per_day=10_000)


def infusing(config: PumpConfig, rate_ul_per_day: int) -> Pump:
    pump = Pump(config)
    pump.refill(20_000_000, CONCENTRATION)
    pump.program(Continuous(rate_ul_per_day), start=True)
    return pump


@dataclass(frozen=True)
class Exposure:
    at_s: float
    celsius: float
    minutes: float


def exposed(pump: Pump, exposures: list[Exposure]) -> Pump:
    for exposure in exposures:
        pump.advance_to(round(exposure.at_s * US_PER_S))
        pump.expose_temperature(round(exposure.celsius * 1_000), round(exposure.minutes * MINUTE))
    return pump


def oracle_for(
    tau_us: int, rate_ul_per_day: int, exposures: list[Exposure], end_s: float
) -> Trajectory:
    """The oracle's run of the same story; each exposure ends back at 37 °C, unless the next
    one begins then (exposures do not overlap)."""
    changes: list[tuple[float, int, float]] = []  # (time, 0 for an end and 1 for a start, °C)
    for exposure in exposures:
        changes.append((exposure.at_s, 1, exposure.celsius))
        changes.append((exposure.at_s + exposure.minutes * 60, 0, 37.0))
    return simulate(
        tau_s=tau_us / US_PER_S,
        k_per_c=K_PER_C,
        rates_nl_per_day=[(0.0, rate_ul_per_day * 1_000.0)],
        surroundings_c=[(t, celsius) for t, _, celsius in sorted(changes)],
        end_s=end_s,
    )


def pumped_nl(pump: Pump) -> float:
    return pump.accounts().pumped_q / QUANTA_PER_NL


def assert_matches_oracle(pump: Pump, oracle: Trajectory, t_s: float) -> None:
    pump.advance_to(round(t_s * US_PER_S))
    difference = pumped_nl(pump) - oracle.volume_nl(t_s)
    assert -TOLERANCE_NL <= difference <= 1 + TOLERANCE_NL, (t_s, difference)


def extra_to_the_end_of_the_tail(
    tau_us: int, rate_ul_per_day: int, celsius: float, minutes: float
) -> float:
    """nL delivered beyond a pump kept at 37 °C, counted until the lag has settled."""
    config = lagged_config(tau_us)
    cold, hot = infusing(config, rate_ul_per_day), infusing(config, rate_ul_per_day)
    exposed(hot, [Exposure(SOAK_START_S, celsius, minutes)])
    end_us = SOAK_START_S * US_PER_S + round(minutes * MINUTE) + 70 * tau_us  # settled by then
    for pump in (cold, hot):
        pump.advance_to(end_us)
    assert "thermal" not in hot._timers, "the lag should have settled"
    return pumped_nl(hot) - pumped_nl(cold)


def test_a_nine_minute_soak_adds_its_three_microlitres() -> None:
    # Hand-worked [M]: 2 mL/day x 0.08/°C x 3 °C x 9 min / 1440 min/day = 3 µL, whatever the
    # time constant, once the tail is counted (a first-order lag delays heat, never loses it).
    # The staircase model counted nothing here: the soak ended before its first step.
    extra = extra_to_the_end_of_the_tail(40 * MINUTE, 2_000, 40.0, 9)
    assert 3_000 - TOLERANCE_NL <= extra <= 3_000 + 1


def test_six_hours_at_forty_add_forty_eight_microlitres() -> None:
    # Hand-worked [M]: 0.8 mL/day x 0.24 x 6 h / 24 h = 48 µL (the staircase: 45.97 µL).
    extra = extra_to_the_end_of_the_tail(HOUR, 800, 40.0, 6 * 60)
    assert 48_000 - TOLERANCE_NL <= extra <= 48_000 + 1


def test_the_nine_minute_soak_follows_the_oracle_through_its_tail() -> None:
    soak = [Exposure(SOAK_START_S, 40.0, 9)]
    oracle = oracle_for(40 * MINUTE, 2_000, soak, SOAK_START_S + 4 * 3_600)
    pump = exposed(infusing(lagged_config(40 * MINUTE), 2_000), soak)
    for after_s in (60, 9 * 60, 3_600, 4 * 3_600):
        assert_matches_oracle(pump, oracle, SOAK_START_S + after_s)


class TestSixHoursAtForty:
    """tau = 1 h, 0.8 mL/day: the over-infusion window (1 h, +10 %) is crossed mid-soak."""

    TAU_US = HOUR
    SOAK = (Exposure(SOAK_START_S, 40.0, 6 * 60),)
    END_S = SOAK_START_S + 9 * 3_600

    @pytest.fixture(scope="class")
    @classmethod
    def oracle(cls) -> Trajectory:
        return oracle_for(cls.TAU_US, 800, list(cls.SOAK), cls.END_S)

    def run(self, until_s: float) -> Pump:
        pump = exposed(infusing(lagged_config(self.TAU_US), 800), list(self.SOAK))
        pump.advance_to(round(until_s * US_PER_S))
        return pump

    def test_volumes_follow_the_oracle(self, oracle: Trajectory) -> None:
        pump = exposed(infusing(lagged_config(self.TAU_US), 800), list(self.SOAK))
        for after_s in (600, 3_600, 6 * 3_600, 7 * 3_600, 9 * 3_600):
            assert_matches_oracle(pump, oracle, SOAK_START_S + after_s)

    def test_the_alarm_is_never_later_than_the_oracle_and_within_a_second(
        self, oracle: Trajectory
    ) -> None:
        pump = self.run(self.END_S)
        raised_s = first(pump, "alarm", alarm="over_infusion") / US_PER_S
        before, crossing, after = oracle.over_infusion_s(SOAK_START_S, 3_600, 0.1)
        assert before <= raised_s <= after  # "after": the oracle clearly over: never later
        assert abs(raised_s - crossing) < 1
        # The staircase raised it 457 s late.
        assert abs(raised_s - crossing) < 1e-3

    def test_the_alarm_takes_the_microsecond_before_the_hand_worked_root(self) -> None:
        # By hand: with the window [t - W, t] inside the soak, T - 37 = 3 (1 - e^(-s/tau)) °C
        # and G = 0 where 0.24 W - 0.1 W = 0.24 tau e^(-t/tau) (e^(W/tau) - 1), W = tau = 1 h:
        # t = -tau ln(0.14 / (0.24 (e - 1))) = 3889.156879244... s. Over-delivery alarms take
        # the earlier of the two microseconds around it.
        getcontext().prec = 40
        root_s = -3_600 * (Decimal("0.14") / (Decimal("0.24") * (Decimal(1).exp() - 1))).ln()
        pump = self.run(self.END_S)
        raised_us = first(pump, "alarm", alarm="over_infusion") - SOAK_START_S * US_PER_S
        assert raised_us == math.floor(root_s * US_PER_S) == 3_889_156_879

    def test_delivered_is_never_under_the_hand_worked_volume_nor_a_nanolitre_over(self) -> None:
        # By hand: V(t) = rate (t + k * integral of (T - 37)), T - 37 = 3 (1 - e^(-s/tau)) in
        # the soak and its value at the end times e^(-(s - 6 h)/tau) after. Exact to 40
        # digits, it resolves what the oracle's float sums cannot: the model is never under.
        getcontext().prec = 40
        tau, soak_s, k = Decimal(3_600), Decimal(6 * 3_600), Decimal("0.08")
        rate_nl_per_s = Decimal(800_000) / 86_400

        def excess_c_s(s: Decimal) -> Decimal:
            inside = min(s, soak_s)
            total = 3 * inside - 3 * tau * (1 - (-inside / tau).exp())
            if s > soak_s:
                at_end = 3 - 3 * (-soak_s / tau).exp()
                total += at_end * tau * (1 - (-(s - soak_s) / tau).exp())
            return total

        pump = exposed(infusing(lagged_config(self.TAU_US), 800), list(self.SOAK))
        for after_s in (600, 3_600, 6 * 3_600, 7 * 3_600, 9 * 3_600):
            t_s = SOAK_START_S + after_s
            pump.advance_to(t_s * US_PER_S)
            exact_nl = rate_nl_per_s * (t_s + k * excess_c_s(Decimal(after_s)))
            over_nl = Decimal(pump.accounts().pumped_q) / QUANTA_PER_NL - exact_nl
            assert 0 <= over_nl <= 1, after_s

    def test_the_alarm_clears_with_the_oracle(self, oracle: Trajectory) -> None:
        pump = self.run(self.END_S)
        cleared_s = first(pump, "alarm_cleared", alarm="over_infusion") / US_PER_S
        soak_end_s = SOAK_START_S + 6 * 3_600
        before, crossing, after = oracle.over_infusion_s(soak_end_s, 3_600, 0.1, entering=False)
        assert before <= cleared_s <= after
        assert abs(cleared_s - crossing) < 1


def test_the_temperature_crosses_37_at_the_oracles_instant_both_ways() -> None:
    # Hot, then cold before the body has cooled (it falls through 37 °C), then hot again
    # before it has warmed (it rises through 37 °C); the flow's kinks are solved for.
    tau_us = 20 * MINUTE
    story = [
        Exposure(3_600, 42.0, 30),
        Exposure(3_600 + 30 * 60, 30.0, 40),
        Exposure(3_600 + 70 * 60, 41.0, 60),
    ]
    oracle = oracle_for(tau_us, 1_000, story, 4 * 3_600)
    pump = exposed(infusing(lagged_config(tau_us), 1_000), story[:2])
    falling = oracle.crossing_37_s(story[1].at_s)
    assert pump._timers["thermal"] == pytest.approx(falling * US_PER_S, abs=5)
    assert_matches_oracle(pump, oracle, story[2].at_s - 60)
    exposed(pump, story[2:])
    rising = oracle.crossing_37_s(story[2].at_s)
    assert pump._timers["thermal"] == pytest.approx(rising * US_PER_S, abs=5)
    for t_s in (story[2].at_s + 600, 3 * 3_600, 4 * 3_600):
        assert_matches_oracle(pump, oracle, t_s)


def test_reservoir_alarms_under_a_lag_match_the_oracle() -> None:
    # 1.3 mL at 2 mL/day, alarms at 1.0 mL (low) and 0.5 mL (empty), in a long 42 °C soak.
    config = PumpConfig(
        thermal_time_constant_us=HOUR,
        max_dose_ug_per_day=10_000,
        low_reservoir_nl=1_000_000,
        empty_nl=500_000,
    )
    pump = Pump(config)
    pump.refill(1_300_000, CONCENTRATION)
    pump.program(Continuous(2_000), start=True)
    soak = [Exposure(3_600, 42.0, 10 * 60)]
    exposed(pump, soak).advance_to(12 * HOUR)
    oracle = oracle_for(HOUR, 2_000, soak, 12 * 3_600)
    for alarm, level_nl in (("low_reservoir", 300_000), ("empty_reservoir", 800_000)):
        raised_s = first(pump, "alarm", alarm=alarm) / US_PER_S
        before, crossing, after = first_above_s(
            oracle.volumes_nl, level_nl, 0, oracle.step_s, TOLERANCE_NL
        )
        assert 3_600 < before <= raised_s <= after, alarm  # during the soak
        assert abs(raised_s - crossing) < 1e-3, alarm


def test_battery_eri_under_a_lag_matches_the_oracle() -> None:
    # A battery with 7 794 226 944 000 µs of quiescent life left, 90 days of it past ERI:
    # ERI after 18 226 944 000 µs of drain, 1 µs a µs plus 17.28 ms a nL pumped [M] (config).
    ppm = 35_280
    config = PumpConfig(
        thermal_time_constant_us=HOUR, max_dose_ug_per_day=10_000, initial_battery_ppm=ppm
    )
    budget_us = ppm * config.battery_life_at_zero_flow_us // 1_000_000 - config.eri_to_eos_us
    assert budget_us == 18_226_944_000
    soak = [Exposure(3_600, 42.0, 10 * 60)]
    pump = exposed(infusing(config, 2_000), soak)
    pump.advance_to(10 * HOUR)
    oracle = oracle_for(HOUR, 2_000, soak, 10 * 3_600)
    drain_us = [
        i * oracle.step_s * US_PER_S + config.battery_us_per_nl * volume
        for i, volume in enumerate(oracle.volumes_nl)
    ]
    tolerance_us = config.battery_us_per_nl * TOLERANCE_NL
    before, crossing, after = first_above_s(drain_us, budget_us, 0, oracle.step_s, tolerance_us)
    raised_s = first(pump, "alarm", alarm="battery_eri") / US_PER_S
    assert 3_600 < before <= raised_s <= after
    assert abs(raised_s - crossing) < 1e-3


exposures = st.lists(
    st.tuples(st.integers(1, 40), st.integers(300, 450), st.integers(1, 60)),
    min_size=1,
    max_size=3,
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tau_min=st.integers(1, 60),
    rate_ul_per_day=st.integers(100, 3_000),
    raw=exposures,
)
def test_random_exposures_follow_the_oracle(
    tau_min: int, rate_ul_per_day: int, raw: list[tuple[int, int, int]]
) -> None:
    # Exposures (gap before it in minutes, °C x 10, minutes) one after another, 30 to 45 °C.
    story, t_s = [], 0.0
    for gap_min, deci_celsius, minutes in raw:
        t_s += gap_min * 60
        story.append(Exposure(t_s, deci_celsius / 10, minutes))
        t_s += minutes * 60
    end_s = t_s + 30 * 60
    oracle = oracle_for(tau_min * MINUTE, rate_ul_per_day, story, end_s)
    pump = exposed(infusing(lagged_config(tau_min * MINUTE), rate_ul_per_day), story)
    assert_matches_oracle(pump, oracle, end_s)


# Time constants from a microsecond to a month: margins and roots must hold at every scale.
lagged_configs = st.sampled_from([1, US_PER_S, 10 * MINUTE, HOUR, 24 * HOUR, 30 * 24 * HOUR]).map(
    lagged_config
)
PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TAIL_US = 10 * HOUR


@PROPERTY_SETTINGS
@given(programs(), lagged_configs, st.data())
def test_slicing_time_changes_nothing_under_a_lag(
    program: list[Timed], config: PumpConfig, data: st.DataObject
) -> None:
    end = program[-1].at_us + TAIL_US
    cuts = data.draw(st.lists(st.integers(0, end), max_size=20))
    assert_slicing_changes_nothing(program, end, cuts, lambda: Pump(config))


@PROPERTY_SETTINGS
@given(programs(), lagged_configs)
def test_mass_balance_holds_under_a_lag(program: list[Timed], config: PumpConfig) -> None:
    pump = Pump(config)
    for step in [*program, Timed(program[-1].at_us + TAIL_US, "end", lambda p: None)]:
        apply(pump, step)
        a = pump.accounts()
        assert a.filled_q == a.pumped_q + a.remaining_q + a.withdrawn_q
        assert a.remaining_q >= 0


@PROPERTY_SETTINGS
@given(programs(max_actions=6), lagged_configs)
def test_every_alarm_at_its_instant_under_a_lag(program: list[Timed], config: PumpConfig) -> None:
    end = program[-1].at_us + TAIL_US
    pump = replay(program, end, Pump(config))
    raised = [(e.t_us, Alarm(e.detail["alarm"])) for e in pump.log if e.kind == "alarm"]
    # An alarm raised and cleared by requests at one instant has no instant to check.
    cleared = {(e.t_us, Alarm(e.detail["alarm"])) for e in pump.log if e.kind == "alarm_cleared"}
    for t_us, alarm in [r for r in raised if r not in cleared][:6]:
        assert condition(replay(program, t_us, Pump(config)), alarm), (alarm, t_us)
        if t_us > 0 and not any(s.at_us == t_us for s in program):
            assert not condition(replay(program, t_us - 1, Pump(config)), alarm), (alarm, t_us)


@PROPERTY_SETTINGS
@given(programs(), lagged_configs, st.data())
def test_a_lagged_state_round_trips_and_resumes_identically(
    program: list[Timed], config: PumpConfig, data: st.DataObject
) -> None:
    end = program[-1].at_us + TAIL_US
    cut = data.draw(st.integers(0, end))
    original = replay(program, cut, Pump(config))
    saved = json.loads(json.dumps(to_plain(original)))
    restored = from_plain(saved)
    assert to_plain(restored) == saved
    rest = [s for s in program if s.at_us > cut]
    replay(rest, end, original)
    replay(rest, end, restored)
    assert to_plain(restored) == to_plain(original)


def test_tau_zero_still_steps_and_integrates_in_integers() -> None:
    # tau = 0: the body takes the temperature at once; +24 % for 30 minutes of 0.4 mL/day
    # is exactly 2000 nL, to the quantum, as before the lag existed.
    cold, hot = infusing(PumpConfig(), 400), infusing(PumpConfig(), 400)
    exposed(hot, [Exposure(SOAK_START_S, 40.0, 30)])
    assert hot.status().temperature_mc == 40_000
    assert hot._lagged_flow is None
    for pump in (cold, hot):
        pump.advance_to(SOAK_START_S * US_PER_S + 2 * HOUR)
    assert hot.accounts().pumped_q - cold.accounts().pumped_q == 2_000 * QUANTA_PER_NL
