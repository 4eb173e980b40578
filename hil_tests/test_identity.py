"""Interrogation: the pump says who it is and how it is, consistently."""

import pytest

from programmer import DeviceRefused, Programmer
from protocol import PROTOCOL_VERSION, GetStatus, Mode, PumpState, Reason

# Rate from dose: rate = dose / concentration (docs/domain.md, "Rate from dose" [S]).
NL_PER_ML = 1_000_000


def test_hello_names_model_serial_firmware_and_protocol(link: Programmer) -> None:
    hello = link.hello()
    assert hello.model
    assert hello.serial_number
    assert hello.firmware_version.count(".") == 2
    assert hello.protocol_version == PROTOCOL_VERSION


def test_nothing_but_identity_without_a_session(link: Programmer) -> None:
    with pytest.raises(DeviceRefused) as refused:
        link.link.transact(GetStatus())
    assert refused.value.reason is Reason.NOT_AUTHENTICATED


def test_status_rate_follows_dose_and_concentration(pump: Programmer) -> None:
    status = pump.status()
    assert status.state in set(PumpState)
    if status.state is PumpState.INFUSING and status.mode is Mode.CONTINUOUS:
        exact_nl_per_day = status.dose_ug_per_day * NL_PER_ML / status.concentration_ug_per_ml
        assert abs(status.rate_nl_per_day - exact_nl_per_day) <= 0.5


def test_pump_clock_does_not_run_backwards(pump: Programmer) -> None:
    first = pump.status()
    second = pump.status()
    assert second.clock_s >= first.clock_s
    assert second.infused_ug >= first.infused_ug
    assert second.reservoir_ul <= first.reservoir_ul


def test_event_log_reads_back_in_order(pump: Programmer) -> None:
    entries = list(pump.log_entries())
    assert entries, "a pump that has opened a session has logged it"
    indices = [entry.index for entry in entries]
    assert indices == sorted(indices)
    assert any(entry.kind == "session_opened" for entry in entries)
