"""The 24 h window of totals in force, against a naive record of every programming."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_model import Continuous, Flex, FlexStep, Prescription, Pump, PumpRefusal, Refusal
from firmware_model.dose_window import MAX_REPLACED, DoseWindow
from firmware_model.persistence import from_plain, to_plain
from firmware_model.prescription import Basal
from tests.model.helpers import DAY, HOUR, ML, SECOND

SETTINGS = settings(max_examples=200, deadline=None)
FACTOR_PCT = 140  # PumpConfig().max_dose_increase_pct = 40


@dataclass
class Naive:
    """Every programming kept: (model time, daily total), oldest first."""

    programmed: list[tuple[int, int]]

    def in_window(self, t_us: int) -> list[int]:
        """Totals in force at some instant of (t_us - 24 h, t_us]; each ends when replaced."""
        ends = [t for t, _ in self.programmed[1:]] + [t_us + 1]
        return [
            total for (_, total), end in zip(self.programmed, ends, strict=True) if end > t_us - DAY
        ]


gaps = st.one_of(
    st.just(0),
    st.integers(1, 2 * HOUR),
    st.integers(20 * HOUR, 30 * HOUR),
    st.sampled_from([DAY - 1, DAY, DAY + 1]),  # the window's edges, to the microsecond
)
totals = st.integers(1, 1_000).map(lambda dose: dose * 86_400)


@SETTINGS
@given(st.lists(st.tuples(gaps, totals), min_size=1, max_size=MAX_REPLACED))
def test_lowest_and_highest_are_exact_and_the_history_bounded(
    records: list[tuple[int, int]],
) -> None:
    window, naive, t = DoseWindow(), Naive([]), 0
    for gap, total in records:
        t += gap
        in_force = window.in_force(t)
        if naive.programmed:
            assert in_force is not None
            assert (in_force.lowest, in_force.highest) == (
                min(naive.in_window(t)),
                max(naive.in_window(t)),
            )
        window.record(t, total)
        naive.programmed.append((t, total))
        assert len(window.replaced) <= window.capacity


@SETTINGS
@given(st.lists(st.tuples(gaps, totals), min_size=1, max_size=40), st.integers(1, 4))
def test_a_full_history_is_only_ever_stricter(
    records: list[tuple[int, int]], capacity: int
) -> None:
    window, naive, t = DoseWindow(capacity), Naive([]), 0
    for gap, total in records:
        t += gap
        window.record(t, total)
        naive.programmed.append((t, total))
        in_force = window.in_force(t + 1)
        assert in_force is not None
        assert in_force.lowest <= min(naive.in_window(t + 1))
        assert in_force.highest <= max(naive.in_window(t + 1))
        assert len(window.replaced) <= capacity


def test_alternating_all_day_keeps_two_totals() -> None:
    window = DoseWindow()
    for second in range(10_000):
        window.record(second * SECOND, (200 + 80 * (second % 2)) * 86_400)
    assert len(window.replaced) == 1


# -- the pump: no walk past 1.4 x the lowest of the day -----------------------------------


@dataclass(frozen=True)
class Step:
    name: str
    basal: Basal | None  # what it programs, if it programs
    run: Callable[[Pump], Pump]  # a save and load gives a new pump

    def __repr__(self) -> str:
        return self.name


def programming(name: str, basal: Basal, run: Callable[[Pump], object]) -> Step:
    def apply(pump: Pump) -> Pump:
        run(pump)
        return pump

    return Step(f"{name} {basal}", basal, apply)


def other(name: str, run: Callable[[Pump], object]) -> Step:
    def apply(pump: Pump) -> Pump:
        result = run(pump)
        return result if isinstance(result, Pump) else pump

    return Step(name, None, apply)


def stage_and_commit(basal: Basal) -> Callable[[Pump], None]:
    prescription = Prescription(basal, None, 2 * ML)

    def run(pump: Pump) -> None:
        pump.check_prescription(prescription)
        pump.apply_prescription(prescription)

    return run


def refill_with(basal: Basal, concentration: int) -> Callable[[Pump], None]:
    prescription = Prescription(basal, None, 2 * ML)
    return lambda pump: pump.refill(20 * ML, concentration, prescription=prescription)


def set_clock_ahead(shift_us: int) -> Callable[[Pump], None]:
    return lambda pump: pump.set_clock(1_795_428_000 * SECOND + pump.t_us + shift_us)


doses = st.integers(100, 700)
basals: st.SearchStrategy[Basal] = st.one_of(
    doses.map(Continuous),
    st.lists(
        st.tuples(st.integers(0, 23), doses), min_size=1, max_size=4, unique_by=lambda s: s[0]
    ).map(lambda steps: Flex(tuple(FlexStep(h * 3600, d) for h, d in sorted(steps)))),
)
programmings = st.one_of(
    basals.map(lambda b: programming("program", b, lambda p: p.program(b))),
    basals.map(lambda b: programming("stage and commit", b, stage_and_commit(b))),
    st.tuples(basals, st.sampled_from([500, 1000])).map(
        lambda v: programming(f"refill at {v[1]}", v[0], refill_with(*v))
    ),
)
others = st.one_of(
    st.just(other("stop", lambda p: p.stop(confirm=True))),
    st.just(other("start", lambda p: p.start())),
    st.just(other("save and load", lambda p: from_plain(to_plain(p)))),
    st.integers(0, 3 * DAY).map(lambda shift: other(f"clock +{shift}", set_clock_ahead(shift))),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(gaps, st.one_of(programmings, others)), min_size=1, max_size=25))
def test_no_accepted_programming_walks_past_the_lowest_of_its_day(
    steps: list[tuple[int, Step]],
) -> None:
    """At every programming, over (now - 24 h, now]: the new total is at most 1.4 x the lowest
    in force in that window, or at most a total itself in force in it; and the cap refuses
    nothing else. Checked against every programming ever made, through saves and loads."""
    pump = Pump()
    pump.refill(20 * ML, 500)
    naive = Naive([])
    t = 0
    for gap, step in steps:
        t += gap
        pump.advance_to(t)
        total = None if step.basal is None else step.basal.dose_seconds_per_day()
        window = naive.in_window(t) if naive.programmed else []
        within = (
            not window
            or total is None
            or (total * 100 <= min(window) * FACTOR_PCT or total <= max(window))
        )
        refusal: PumpRefusal | None = None
        try:
            pump = step.run(pump)
        except PumpRefusal as refused:
            refusal = refused
        if refusal is None:
            assert within, step
            if total is not None:
                naive.programmed.append((t, total))
        elif within:  # refused for another reason: a range, the state, the drug
            assert refusal.reason is not Refusal.DOSE_CHANGE_LIMIT, refusal.message
