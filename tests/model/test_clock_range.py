"""The pump clock's range (2000-01-01 to 2099-12-31 UTC): a refusal names the value asked."""

from __future__ import annotations

import pytest

from firmware_model import Pump, PumpRefusal
from firmware_model.pump import MAX_CLOCK_S, MIN_CLOCK_S
from firmware_model.units import US_PER_S


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("clock_us", "said"),
    [
        (MAX_CLOCK_S * US_PER_S + 999_999, "clock 4102444799.999999 s outside"),
        (MIN_CLOCK_S * US_PER_S - 1, "clock 946684799.999999 s outside"),
        ((MAX_CLOCK_S + 1) * US_PER_S, "clock 4102444800 s outside"),
        (-US_PER_S // 2, "clock -0.5 s outside"),
    ],
)
def test_a_clock_out_of_range_is_refused_with_the_value_asked_and_nothing_moves(
    clock_us: int, said: str
) -> None:
    pump = Pump()
    pump.set_clock(MAX_CLOCK_S * US_PER_S)  # the last whole second is in range
    before = pump.clock_us
    with pytest.raises(PumpRefusal, match=f"^{said} {MIN_CLOCK_S}..{MAX_CLOCK_S} s "):
        pump.set_clock(clock_us)
    assert pump.clock_us == before
