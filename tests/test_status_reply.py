"""The status reply, built straight from the model's reading, says what ``Pump.status()`` says."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from emulator import wire_map
from emulator.device import EmulatedDevice, Identity
from emulator.presets import PRESETS, build_preset
from firmware_model import Alarm, PatientLimits, Pump, PumpConfig, PumpRefusal
from firmware_model.units import US_PER_DAY, US_PER_S
from protocol import GetStatus, Keyring, StatusReply
from tests.protocol.pair import seeded

SERIAL = "T-1"
KEYS = Keyring.generate(SERIAL, seeded(5))
CLOCK_US = 1_795_000_000 * US_PER_S
U32_MAX = 0xFFFF_FFFF


def from_snapshot(pump: Pump) -> StatusReply:
    """The reply as it was built before: from the frozen snapshot, field by field."""
    status = pump.status()
    ends_us = status.patient_bolus_ends_us
    return StatusReply(
        state=wire_map.STATE_CODES[status.state],
        mode=wire_map.mode_code(status.mode),
        alarms=wire_map.alarm_flags(status.alarms),
        silenced=wire_map.alarm_flags(status.silenced),
        dose_ug_per_day=status.dose_ug_per_day,
        rate_nl_per_day=status.rate_nl_per_day,
        flow_nl_per_day=min(status.flow_nl_per_day, U32_MAX),
        concentration_ug_per_ml=status.concentration_ug_per_ml,
        reservoir_ul=status.reservoir_ul,
        infused_ug=min(status.infused_ug, U32_MAX),
        battery_ppm=status.battery_ppm,
        temperature_mc=status.temperature_mc,
        clock_s=pump.clock_us // US_PER_S,
        basal_on=int(status.basal_on),
        patient_bolus_ends_s=(
            0 if ends_us is None else (ends_us + pump.clock_us - pump.t_us) // US_PER_S
        ),
    )


def low_and_silenced(pump: Pump) -> None:
    pump.advance_to(pump.t_us + 46 * US_PER_DAY)
    pump.acknowledge(Alarm.LOW_RESERVOIR)


def hot_with_a_patient_bolus(pump: Pump) -> None:
    pump.set_patient_limits(PatientLimits(50, 600 * US_PER_S, 3600 * US_PER_S, 4))
    pump.expose_temperature(41_000, 3600 * US_PER_S)
    pump.advance_to(pump.t_us + 600 * US_PER_S)
    pump.patient_bolus()
    pump.advance_to(pump.t_us + 60 * US_PER_S)


def clinician_bolus(pump: Pump) -> None:
    pump.clinician_bolus(100, 3600 * US_PER_S)
    pump.advance_to(pump.t_us + 90 * US_PER_S)


def run_dry(pump: Pump) -> None:
    pump.advance_to(pump.t_us + 60 * US_PER_DAY)


CHANGES: dict[str, Callable[[Pump], None]] = {
    "as made": lambda pump: None,
    "low reservoir, silenced": low_and_silenced,
    "heat and a patient bolus": hot_with_a_patient_bolus,
    "clinician bolus": clinician_bolus,
    "empty": run_dry,
    "flex, afternoon": lambda pump: pump.advance_to(pump.t_us + 14 * 3600 * US_PER_S),
}


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("change", list(CHANGES))
def test_the_reply_is_the_snapshots_field_for_field(preset: str, change: str) -> None:
    pump = build_preset(preset, PumpConfig(), CLOCK_US)
    with contextlib.suppress(PumpRefusal):  # a change this preset refuses: its state then
        CHANGES[change](pump)
    device = EmulatedDevice(pump, Identity(serial_number=SERIAL), KEYS)
    reply = device._status(GetStatus())
    assert reply == from_snapshot(pump)
    assert type(reply.alarms) is type(from_snapshot(pump).alarms)


def test_the_cases_cover_alarms_silenced_bolus_ends_and_heat() -> None:
    replies = []
    for change in CHANGES.values():
        pump = build_preset("worked-example", PumpConfig(), CLOCK_US)
        change(pump)
        replies.append(from_snapshot(pump))
    assert any(r.silenced for r in replies)
    assert any(r.patient_bolus_ends_s for r in replies)
    assert any(r.temperature_mc != 37_000 for r in replies)
    assert len({r.state for r in replies}) >= 3


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("change", list(CHANGES))
def test_the_models_status_reading_says_what_its_status_says(preset: str, change: str) -> None:
    pump = build_preset(preset, PumpConfig(), CLOCK_US)
    with contextlib.suppress(PumpRefusal):
        CHANGES[change](pump)
    status = pump.status()
    assert pump.status_reading() == (
        status.state,
        status.mode,
        status.dose_ug_per_day,
        status.rate_nl_per_day,
        status.flow_nl_per_day,
        status.concentration_ug_per_ml,
        status.reservoir_nl,
        status.infused_ng,
        status.battery_ppm,
        status.temperature_mc,
        status.basal_on,
        status.patient_bolus_ends_us,
        pump.clock_us,
        tuple(pump.alarm_entries()),
    )
    assert all(type(value) is int for value in pump.status_reading()[2:10])
