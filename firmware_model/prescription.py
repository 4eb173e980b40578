"""What the clinician programs: the basal mode and the patient's bolus limits."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from firmware_model.units import S_PER_DAY

MAX_FLEX_STEPS = 24  # [U] docs/domain.md, Modes: up to 24 steps


@dataclass(frozen=True, slots=True)
class Continuous:
    """Simple continuous delivery at one daily dose."""

    dose_ug_per_day: int

    def dose_at(self, second_of_day: int) -> int:
        return self.dose_ug_per_day

    def next_change_s(self, second_of_day: int) -> int | None:
        """Seconds until the dose next changes; None when it never does."""
        return None

    def dose_and_next_change_s(self, second_of_day: int) -> tuple[int, int | None]:
        """``dose_at`` and ``next_change_s`` together: one lookup on the event loop."""
        return self.dose_ug_per_day, None

    def dose_seconds_per_day(self) -> int:
        """Daily dose in µg times seconds per day, exact for any schedule."""
        return self.dose_ug_per_day * S_PER_DAY

    @property
    def doses(self) -> tuple[int, ...]:
        return (self.dose_ug_per_day,)


@dataclass(frozen=True, slots=True)
class FlexStep:
    start_s: int  # seconds after midnight, pump clock
    dose_ug_per_day: int


@dataclass(frozen=True, slots=True)
class Flex:
    """A repeating daily schedule; each step runs from its start to the next step's start.

    The last step wraps past midnight to the first, so a schedule need not start at 00:00.
    """

    steps: tuple[FlexStep, ...]
    # Step starts, precomputed: the lookup runs at every step change of a years-long run.
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(step.start_s for step in self.steps))

    def _index(self, second_of_day: int) -> int:
        return (bisect_right(self._starts, second_of_day) - 1) % len(self.steps)

    def dose_at(self, second_of_day: int) -> int:
        return self.steps[self._index(second_of_day)].dose_ug_per_day

    def next_change_s(self, second_of_day: int) -> int | None:
        return self.dose_and_next_change_s(second_of_day)[1]

    def dose_and_next_change_s(self, second_of_day: int) -> tuple[int, int | None]:
        """``dose_at`` and ``next_change_s`` together: one lookup on the event loop."""
        steps = self.steps
        count = len(steps)
        index = (bisect_right(self._starts, second_of_day) - 1) % count
        dose = steps[index].dose_ug_per_day
        if count == 1:
            return dose, None
        following = self._starts[(index + 1) % count]
        return dose, (following - second_of_day) % S_PER_DAY or S_PER_DAY

    def dose_seconds_per_day(self) -> int:
        total = 0
        for index, step in enumerate(self.steps):
            end = self.steps[(index + 1) % len(self.steps)].start_s
            length = (end - step.start_s) % S_PER_DAY or S_PER_DAY
            total += step.dose_ug_per_day * length
        return total

    @property
    def doses(self) -> tuple[int, ...]:
        return tuple(step.dose_ug_per_day for step in self.steps)


Basal = Continuous | Flex


@dataclass(frozen=True, slots=True)
class PatientLimits:
    """Patient-activated bolus: Prometra patient controller fields [S]."""

    dose_ug: int
    duration_us: int
    lockout_us: int
    max_per_day: int


@dataclass(frozen=True, slots=True)
class Prescription:
    """Everything the clinician programs in one transaction: basal, patient limits, alarm."""

    basal: Basal
    patient: PatientLimits | None
    low_reservoir_nl: int
