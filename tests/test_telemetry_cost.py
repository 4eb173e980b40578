"""Telemetry's battery cost: per session, not per request; set by scenario or command line."""

from __future__ import annotations

import pytest

from emulator.cli import build_parser, build_pump
from emulator.device import EmulatedDevice, Identity
from firmware_model import Pump, PumpConfig
from firmware_model.config import MAX_BATTERY_US_PER_SESSION
from firmware_model.scenario import ScenarioError, parse_scenario_text, run_scenario
from firmware_model.units import PPM, US_PER_HOUR, US_PER_S
from protocol import GetStatus, SessionClose, SessionClosed, StatusReply
from tests.test_emulated_device import KEYS, SERIAL, Session

LIFE_US = PumpConfig().battery_life_at_zero_flow_us


def battery_after(sessions: int, requests_each: int, config: PumpConfig) -> int:
    """Battery (ppm) after sessions of status requests, at model time 0: no drain but theirs."""
    pump = Pump(config)
    pump.refill(20_000_000, 500)
    pump.set_dose(200)
    s = Session(EmulatedDevice(pump, Identity(serial_number=SERIAL), KEYS))
    for _ in range(sessions):
        s.programmer.forget_session()
        s.open()
        for _ in range(requests_each):
            assert isinstance(s.ask(GetStatus()), StatusReply)
        assert isinstance(s.ask(SessionClose()), SessionClosed)
    assert pump.t_us == 0
    return pump.status().battery_ppm


def ppm_left(sessions: int, cost_us: int) -> int:
    return (LIFE_US - sessions * cost_us) * PPM // LIFE_US


@pytest.mark.parametrize("cost_us", [6 * US_PER_HOUR, 0, MAX_BATTERY_US_PER_SESSION])
def test_a_session_costs_the_same_whatever_its_requests(cost_us: int) -> None:
    config = PumpConfig(battery_us_per_session=cost_us)
    one = battery_after(sessions=1, requests_each=1, config=config)
    assert battery_after(sessions=1, requests_each=50, config=config) == one == ppm_left(1, cost_us)
    assert battery_after(sessions=2, requests_each=1, config=config) == ppm_left(2, cost_us)


def test_the_default_is_six_hours_of_quiescent_drain() -> None:
    assert PumpConfig().battery_us_per_session == 6 * US_PER_HOUR
    assert battery_after(1, 1, PumpConfig()) == ppm_left(1, 6 * US_PER_HOUR) < PPM


def battery_fraction(cost: str) -> float:
    text = f'[pump]\ntelemetry_session_cost = "{cost}"\n[[step]]\nat = 0\ninterrogate = {{}}'
    fraction = list(run_scenario(parse_scenario_text(text)))[-1]["battery_fraction"]
    assert isinstance(fraction, int | float)
    return float(fraction)


def test_a_scenario_sets_the_cost() -> None:
    assert battery_fraction("0s") == 1
    assert battery_fraction("6h") < 1
    config = parse_scenario_text('[pump]\ntelemetry_session_cost = "90m"').config
    assert config.battery_us_per_session == 90 * 60 * US_PER_S


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ('"25h"', 'pump.telemetry_session_cost = "25h": telemetry session cost must lie'),
        ('"6x"', "pump.telemetry_session_cost: bad duration"),
        ("-1", "pump.telemetry_session_cost: duration cannot be negative"),
    ],
)
def test_a_scenario_cost_out_of_range_names_the_key(value: str, named: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenario_text(f"[pump]\ntelemetry_session_cost = {value}")
    assert str(error.value).startswith(named)


@pytest.mark.parametrize(
    ("text", "us"),
    [("6h", 6 * US_PER_HOUR), ("0s", 0), ("90", 90 * US_PER_S), ("1.5h", 90 * 60 * US_PER_S)],
)
def test_the_command_line_sets_the_cost(text: str, us: int) -> None:
    args = build_parser().parse_args(["--telemetry-session-cost", text])
    assert build_pump(args).config.battery_us_per_session == us


def test_the_command_line_default_is_the_models() -> None:
    assert (
        build_pump(build_parser().parse_args([])).config
        == build_pump(build_parser().parse_args(["--telemetry-session-cost", "6h"])).config
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("25h", "at most 1d, got '25h'"),
        ("-1s", "bad duration '-1s'"),
        ("6x", "bad duration '6x'"),
        ("", "empty duration"),
    ],
)
def test_the_command_line_refuses_a_cost_out_of_range(
    text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([f"--telemetry-session-cost={text}"])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"pump-emulator: error: argument --telemetry-session-cost: {message}")


def test_the_help_documents_the_option() -> None:
    text = " ".join(build_parser().format_help().split())
    assert "--telemetry-session-cost DURATION" in text
    assert "0s to 1d (default 6h, a modelling choice)" in text
