"""Saved state: versioned, plain, exact."""

import json

import pytest

from firmware_model import PatientLimits, Pump, PumpConfig
from firmware_model.persistence import VERSION, StateFormatError, from_plain, to_plain
from tests.model.helpers import DAY, HOUR, MINUTE, pump_with_drug


def busy_pump() -> Pump:
    pump = pump_with_drug(config=PumpConfig(thermal_time_constant_us=10 * MINUTE))
    pump.set_patient_limits(PatientLimits(20, 10 * MINUTE, HOUR, 4))
    pump.advance_to(DAY)
    pump.patient_bolus()
    pump.expose_temperature(40_000, HOUR)
    pump.mri(30 * MINUTE)
    pump.advance_to(DAY + 3 * MINUTE)
    return pump


def test_round_trip_mid_exposure_and_mri_continues_identically() -> None:
    original = busy_pump()
    restored = from_plain(json.loads(json.dumps(to_plain(original))))
    for pump in (original, restored):
        pump.advance_to(60 * DAY)
    assert to_plain(restored) == to_plain(original)
    assert restored.status() == original.status()


def test_plain_form_is_versioned_json() -> None:
    plain = to_plain(busy_pump())
    assert plain["format"] == "itb-pump-state"
    assert plain["version"] == VERSION
    assert json.loads(json.dumps(plain)) == plain


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "not a pump state"),
        ({"version": VERSION + 1}, "version"),
        ({"state": "flying"}, "damaged"),
        ({"reservoir": {}}, "damaged"),
    ],
)
def test_foreign_or_damaged_state_is_refused(change: dict[str, object], message: str) -> None:
    plain = {**to_plain(busy_pump()), **change}
    with pytest.raises(StateFormatError, match=message):
        from_plain(plain)
