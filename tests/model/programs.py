"""Random pump programs for property tests: timed actions, applied the same way every time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from firmware_model import (
    Alarm,
    Continuous,
    Flex,
    FlexStep,
    PatientLimits,
    Prescription,
    Pump,
    PumpRefusal,
)
from tests.model.helpers import DAY, HOUR, MINUTE, ML

Action = Callable[[Pump], None]


@dataclass(frozen=True)
class Timed:
    at_us: int
    name: str
    action: Action

    def __repr__(self) -> str:
        return f"Timed({self.at_us}, {self.name})"


def _named(name: str, action: Action) -> tuple[str, Action]:
    return name, action


doses = st.integers(50, 1000)
concentrations = st.sampled_from([500, 1000, 2000])

actions = st.one_of(
    st.tuples(doses, st.booleans()).map(
        lambda v: _named(f"program {v}", lambda p: p.program(Continuous(v[0]), start=v[1]))
    ),
    st.tuples(
        st.lists(
            st.tuples(st.integers(0, 23), doses), min_size=1, max_size=5, unique_by=lambda s: s[0]
        ),
        st.booleans(),
    ).map(
        lambda v: _named(
            f"flex {sorted(v[0])} start {v[1]}",
            lambda p: p.program(
                Flex(tuple(FlexStep(h * 3600, d) for h, d in sorted(v[0]))), start=v[1]
            ),
        )
    ),
    st.just(_named("stop", lambda p: p.stop(confirm=True))),
    st.just(_named("start", lambda p: p.start())),
    st.tuples(st.integers(1, 20), concentrations, doses).map(
        lambda v: _named(
            f"refill {v}",
            lambda p: p.refill(
                v[0] * ML, v[1], prescription=Prescription(Continuous(v[2]), None, 2 * ML)
            ),
        )
    ),
    st.tuples(st.integers(1, 200), st.integers(1, 24 * 60)).map(
        lambda v: _named(f"bolus {v}", lambda p: p.clinician_bolus(v[0], v[1] * MINUTE))
    ),
    st.just(_named("prime", lambda p: p.prime())),
    st.just(
        _named(
            "patient limits",
            lambda p: p.set_patient_limits(PatientLimits(20, 10 * MINUTE, HOUR, 6)),
        )
    ),
    st.just(_named("patient bolus", lambda p: p.patient_bolus())),
    st.tuples(st.integers(36_000, 42_000), st.integers(1, 12 * 60)).map(
        lambda v: _named(f"heat {v}", lambda p: p.expose_temperature(v[0], v[1] * MINUTE))
    ),
    st.integers(1, 6 * 60).map(lambda m: _named(f"mri {m}", lambda p: p.mri(m * MINUTE))),
    st.integers(1, 6 * 60).map(lambda m: _named(f"occlusion {m}", lambda p: p.occlude(m * MINUTE))),
    st.sampled_from(list(Alarm)).map(
        lambda a: _named(f"ack {a.value}", lambda p: p.acknowledge(a))
    ),
    st.just(_named("interrogate", lambda p: p.interrogate())),
)

gaps_us = st.one_of(st.integers(0, 10 * MINUTE), st.integers(0, 2 * DAY), st.integers(0, 40 * DAY))


@st.composite
def programs(draw: st.DrawFn, max_actions: int = 10) -> list[Timed]:
    timed = [Timed(0, "refill", lambda p: p.refill(20 * ML, 500))]
    t = 0
    for _ in range(draw(st.integers(1, max_actions))):
        t += draw(gaps_us)
        name, action = draw(actions)
        timed.append(Timed(t, name, action))
    return timed


def apply(pump: Pump, step: Timed) -> bool:
    """Apply a step at its time; False when the pump refused it."""
    pump.advance_to(step.at_us)
    try:
        step.action(pump)
    except PumpRefusal:
        return False
    return True


def replay(program: list[Timed], until_us: int, pump: Pump | None = None) -> Pump:
    """A fresh pump taken through every step at or before ``until_us``, then to it."""
    pump = pump or Pump()
    for step in program:
        if step.at_us > until_us:
            break
        apply(pump, step)
    pump.advance_to(until_us)
    return pump


def assert_slicing_changes_nothing(
    program: list[Timed], end_us: int, cuts: list[int], new_pump: Callable[[], Pump]
) -> None:
    """The same program run at once and cut at ``cuts`` ends in the same log, status and
    accounts: exact integration between events, not steps that depend on where time stops."""
    whole = replay(program, end_us, new_pump())
    sliced = new_pump()
    pending = list(program)
    for t in [*sorted(cuts), end_us]:
        due = [step for step in pending if step.at_us <= t]
        pending = pending[len(due) :]
        replay(due, t, sliced)
    assert [(e.t_us, e.kind, e.detail) for e in whole.log] == [
        (e.t_us, e.kind, e.detail) for e in sliced.log
    ]
    assert whole.status() == sliced.status()
    assert whole.accounts() == sliced.accounts()
