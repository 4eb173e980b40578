"""The dose-change cap over 24 h: walking up is refused, returning is always possible."""

from __future__ import annotations

import json

import pytest

from firmware_model import (
    Continuous,
    Flex,
    FlexStep,
    Prescription,
    Pump,
    PumpConfig,
    PumpRefusal,
    Refusal,
)
from firmware_model.persistence import StateFormatError, from_plain, to_plain
from tests.model.helpers import DAY, HOUR, ML, SECOND, pump_with_drug
from tests.model.test_persistence import as_version_2

# 2026-11-23 10:00:00 UTC, on the pump clock.
T_CLOCK_US = 1_795_428_000 * SECOND


def refused(pump: Pump, dose: int) -> str:
    """Program ``dose``; it must be refused by the cap, changing nothing. The message."""
    before = pump.prescription()
    with pytest.raises(PumpRefusal) as refusal:
        pump.program(Continuous(dose))
    assert refusal.value.reason is Refusal.DOSE_CHANGE_LIMIT
    assert pump.prescription() == before
    return refusal.value.message


def walked_up(pump: Pump) -> Pump:
    """200 ug/day for two days, then 280 and 390 a second apart, ending at T_CLOCK_US."""
    pump.advance_to(2 * DAY)
    pump.set_clock(T_CLOCK_US - SECOND)
    pump.program(Continuous(280))
    pump.advance_to(2 * DAY + SECOND)
    return pump


def test_walking_up_in_two_seconds_is_refused_naming_base_window_and_limit() -> None:
    pump = walked_up(pump_with_drug(dose=200))
    assert refused(pump, 390) == (
        "daily dose 390 ug/day above the limit 280 ug/day (1.4 x 200, "
        "the lowest in force since 2026-11-22 10:00 UTC, 24 h ago)"
    )
    assert pump.status().dose_ug_per_day == 280
    assert list(pump.log)[-1].kind == "refused"
    pump.program(Continuous(280))  # at the limit: accepted


def test_without_a_clock_the_window_is_named_in_model_time() -> None:
    pump = pump_with_drug(dose=200)
    pump.advance_to(HOUR)
    pump.program(Continuous(280))
    assert refused(pump, 390) == (
        "daily dose 390 ug/day above the limit 280 ug/day (1.4 x 200, "
        "the lowest in force since model time 00:00:00, the pump's first programming)"
    )
    pump.advance_to(DAY + 2 * HOUR)
    assert refused(pump, 400).endswith("since model time 02:00:00, 24 h ago)")


def test_returning_to_a_dose_in_force_is_always_possible() -> None:
    pump = pump_with_drug(dose=200)
    for dose in (280, 200, 280):
        pump.advance_to(pump.t_us + SECOND)
        pump.program(Continuous(dose))
    refused(pump, 390)


def test_up_to_the_highest_in_force_even_above_the_factor() -> None:
    pump = pump_with_drug(dose=300)
    pump.advance_to(2 * DAY)
    pump.program(Continuous(390))  # 1.3 x 300
    pump.advance_to(3 * DAY)
    pump.program(Continuous(200))  # a decrease: never limited
    pump.program(Continuous(350))  # above 1.4 x 200, below 390 in force today
    assert refused(pump, 391) == (
        "daily dose 391 ug/day above the limit 390 ug/day "
        "(the highest in force since model time 48:00:00, 24 h ago)"
    )


def test_after_24_hours_the_base_moves_on() -> None:
    pump = pump_with_drug(dose=200)
    pump.advance_to(DAY)
    pump.program(Continuous(280))
    replaced_us = pump.t_us  # 200 was in force up to and including this instant
    pump.advance_to(replaced_us + DAY - 1)
    refused(pump, 390)
    pump.advance_to(replaced_us + DAY)  # the window (now - 24 h, now] no longer holds it
    pump.program(Continuous(392))  # 1.4 x 280


def test_flex_is_compared_by_its_daily_total() -> None:
    pump = pump_with_drug(dose=None)
    pump.program(Flex((FlexStep(0, 100), FlexStep(12 * 3600, 300))))  # 200 ug/day in all
    pump.advance_to(HOUR)
    pump.program(Flex((FlexStep(0, 60), FlexStep(12 * 3600, 500))))  # steps up to 500: 280
    with pytest.raises(PumpRefusal) as over:
        pump.program(Flex((FlexStep(0, 100), FlexStep(12 * 3600, 461))))
    assert over.value.message.startswith(
        "daily dose 280.5 ug/day above the limit 280 ug/day (1.4 x 200,"
    )
    # 8 h at 200 and 16 h at 300: 266.67 ug/day; 1.4 times it is 373.33.
    other = pump_with_drug(dose=None)
    other.program(Flex((FlexStep(0, 200), FlexStep(8 * 3600, 300))))
    assert refused(other, 374).startswith(
        "daily dose 374 ug/day above the limit 373.33 ug/day (1.4 x 266.67,"
    )
    other.program(Continuous(373))


def test_a_stopped_pump_keeps_its_prescription_as_the_base() -> None:
    pump = pump_with_drug(dose=300)
    pump.stop(confirm=True)
    pump.advance_to(3 * DAY)  # stopped all along: 300 is still the prescription in force
    refused(pump, 430)
    pump.program(Continuous(420))


def test_nothing_programmed_has_no_cap_and_the_window_starts_with_the_first() -> None:
    pump = pump_with_drug(dose=None)
    pump.program(Continuous(900))  # nothing in force: no base to compare with
    first = pump_with_drug(dose=None)
    first.program(Continuous(500))
    refused(first, 800)
    filled = Pump()
    filled.refill(20 * ML, 500, prescription=Prescription(Continuous(900), None, 2 * ML))


def test_staging_and_commit_use_the_same_rule() -> None:
    pump = walked_up(pump_with_drug(dose=200))
    walk = Prescription(Continuous(390), None, 2 * ML)
    for request in (pump.check_prescription, pump.apply_prescription):
        with pytest.raises(PumpRefusal) as refusal:
            request(walk)
        assert refusal.value.reason is Refusal.DOSE_CHANGE_LIMIT
    pump.check_prescription(Prescription(Continuous(280), None, 2 * ML))


def test_a_new_concentration_re_enters_the_dose_through_the_same_check() -> None:
    pump = walked_up(pump_with_drug(dose=200))
    with pytest.raises(PumpRefusal) as refusal:
        pump.refill(20 * ML, 1000, prescription=Prescription(Continuous(390), None, 2 * ML))
    assert refusal.value.reason is Refusal.DOSE_CHANGE_LIMIT
    assert pump.status().concentration_ug_per_ml == 500  # the refill changed nothing
    pump.refill(20 * ML, 1000, prescription=Prescription(Continuous(280), None, 2 * ML))
    assert pump.status().rate_nl_per_day == 280_000


def test_setting_the_clock_does_not_move_the_window() -> None:
    pump = walked_up(pump_with_drug(dose=200))
    pump.set_clock(T_CLOCK_US + 3 * DAY)  # three days ahead, in an instant
    assert "(1.4 x 200, the lowest" in refused(pump, 390)


def test_the_first_programming_is_named_by_the_clock_the_log_stamped_it_with() -> None:
    # A new user's finding: after the clock was set 6 h ahead, the refusal named the first
    # programming 6 h later than the log's record of it.
    pump = pump_with_drug(dose=None)
    pump.set_clock(T_CLOCK_US)
    pump.program(Continuous(200))
    (programmed,) = [e for e in pump.log if e.kind == "programmed"]
    pump.advance_to(pump.t_us + HOUR)
    pump.set_clock(pump.clock_us + 6 * HOUR)
    assert refused(pump, 390).endswith("since 2026-11-23 10:00 UTC, the pump's first programming)")
    assert programmed.on_clock_us(0) == T_CLOCK_US
    restored = from_plain(json.loads(json.dumps(to_plain(pump))))
    assert refused(restored, 390) == refused(pump, 390)


def test_no_limit_when_the_cap_is_configured_off() -> None:
    pump = pump_with_drug(dose=200, config=PumpConfig(max_dose_increase_pct=None))
    pump.program(Continuous(900))


def test_the_window_survives_a_save_and_a_load() -> None:
    pump = walked_up(pump_with_drug(dose=200))
    plain = json.loads(json.dumps(to_plain(pump)))
    assert plain["dose_window"]["current"] == 280 * 86_400
    restored = from_plain(plain)
    assert to_plain(restored) == to_plain(pump)
    assert refused(restored, 390) == refused(pump, 390)


def test_a_version_2_state_takes_its_basal_as_the_only_total() -> None:
    pump = walked_up(pump_with_drug(dose=200))
    restored = from_plain(as_version_2(to_plain(pump)))
    restored.program(Continuous(390))  # what it had replaced was never saved: 1.4 x 280
    assert refused(restored, 550).startswith("daily dose 550 ug/day above the limit 392 ug/day")
    assert from_plain(as_version_2(to_plain(Pump())))._doses.current is None


@pytest.mark.parametrize(
    "damage",
    [
        {"current": 390 * 86_400},  # not the basal's total: the cap's base would be wrong
        {"current": None},
        {"started_us": None},
    ],
)
def test_a_window_at_odds_with_the_basal_is_refused(damage: dict[str, object]) -> None:
    plain = to_plain(walked_up(pump_with_drug(dose=200)))
    plain["dose_window"] = {**plain["dose_window"], **damage}
    with pytest.raises(StateFormatError, match=r"damaged.*dose window"):
        from_plain(plain)


def test_the_longest_refusal_fits_the_wire_whole() -> None:
    # Doses near baclofen's 1000 ug/day maximum (docs/domain.md), with hundredths and a dated
    # window: every word must reach the clinician (the wire's text stops at MAX_TEXT_LEN).
    from protocol.messages import MAX_TEXT_LEN

    pump = pump_with_drug(dose=None)
    pump.set_clock(T_CLOCK_US + 59 * SECOND)
    pump.program(Flex((FlexStep(0, 700), FlexStep(1, 701))))
    message = refused(pump, 999)
    assert message.startswith("daily dose 999 ug/day above the limit 981.")
    assert message.endswith("2026-11-23 10:00:59 UTC, the pump's first programming)")
    assert len(message) <= MAX_TEXT_LEN
