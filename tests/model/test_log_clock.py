"""A record keeps the time it was written at: setting the pump clock later moves nothing.

A clinician correcting a pump clock that ran hours wrong must still be able to read when an
alarm sounded by the clock the pump showed then; the ``clock_set`` entry says how the clock
was changed, so a reader can reconcile the two.
"""

from __future__ import annotations

import json

import pytest

from firmware_model import Pump
from firmware_model.alarms import Alarm
from firmware_model.persistence import from_plain, to_plain
from tests.model.helpers import DAY, HOUR, ML, SECOND, pump_with_drug

CLOCK_S = 1_795_000_000  # 2026-11-18 11:06:40 UTC


def low_pump() -> Pump:
    """A pump whose low-reservoir alarm sounded, with its clock set before and after."""
    pump = pump_with_drug(volume_nl=3 * ML)
    pump.set_clock(CLOCK_S * SECOND)
    pump.advance_to(pump.t_us + 3 * DAY)  # 0.4 mL/day from 3 mL passes the 2 mL alarm
    assert Alarm.LOW_RESERVOIR in pump.status().alarms
    return pump


def stamps(pump: Pump) -> dict[str, int]:
    return {e.kind: e.on_clock_us(0) for e in pump.log if e.kind in ("alarm", "refill")}


def test_setting_the_clock_moves_no_earlier_entry_nor_an_active_alarm() -> None:
    pump = low_pump()
    before = stamps(pump)
    (raised_before,) = [t for a, t, _ in pump.alarm_entries() if a is Alarm.LOW_RESERVOIR]
    pump.set_clock(pump.clock_us - 5 * HOUR)  # the clock had run five hours fast
    assert stamps(pump) == before
    assert [t for a, t, _ in pump.alarm_entries() if a is Alarm.LOW_RESERVOIR] == [raised_before]
    (clock_set,) = [e for e in pump.log if e.kind == "clock_set"][-1:]
    assert clock_set.detail["previous_s"] - clock_set.detail["clock_s"] == 5 * 3600
    assert clock_set.on_clock_us(0) // SECOND == clock_set.detail["clock_s"]


def test_entries_after_a_setting_are_stamped_on_the_new_clock() -> None:
    pump = low_pump()
    pump.set_clock(pump.clock_us - 5 * HOUR)
    pump.acknowledge(Alarm.LOW_RESERVOIR)
    (ack,) = [e for e in pump.log if e.kind == "alarm_acknowledged"]
    assert ack.on_clock_us(0) == pump.clock_us


def test_the_clocks_survive_a_save_and_a_load() -> None:
    pump = low_pump()
    pump.set_clock(pump.clock_us + 7 * HOUR)
    restored = from_plain(json.loads(json.dumps(to_plain(pump))))
    assert [e.on_clock_us(0) for e in restored.log] == [e.on_clock_us(0) for e in pump.log]
    assert restored.alarm_entries() == pump.alarm_entries()


@pytest.mark.parametrize("shift_h", [0, 7])
def test_a_state_saved_without_clocks_takes_the_clock_in_force(shift_h: int) -> None:
    pump = low_pump()
    pump.set_clock(pump.clock_us + shift_h * HOUR)
    plain = json.loads(json.dumps(to_plain(pump)))
    for ring in ("clinical", "link"):
        plain["log"][ring] = [entry[:4] for entry in plain["log"][ring]]
    for alarm in plain["alarms"]:
        del alarm["raised_clock_us"]
    restored = from_plain(plain)
    offset = pump.clock_us - pump.t_us
    assert [e.on_clock_us(0) for e in restored.log] == [e.t_us + offset for e in pump.log]
    assert [t for _, t, _ in restored.alarm_entries()] == [
        raised_us + offset for raised_us in [pump._alarms.active[Alarm.LOW_RESERVOIR].raised_us]
    ]
