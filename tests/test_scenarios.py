"""Scenario files: the format, the runner's output contract, and malformed input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_model.scenario import ScenarioError, parse_scenario, parse_scenario_text, run_scenario
from firmware_model.scenario.durations import parse_duration_us

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
ALARM_NAMES = {
    "low_reservoir",
    "empty_reservoir",
    "battery_eri",
    "end_of_service",
    "motor_stall",
    "over_infusion",
}


def run_text(text: str) -> list[dict[str, Any]]:
    return list(run_scenario(parse_scenario_text(text)))


def simulate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "pump-emulator"), "simulate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_worked_example_reproduces_to_the_second() -> None:
    # docs/domain.md: 20 mL at 500 ug/mL, 200 ug/day -> low 45 d, empty 48.75 d.
    result = simulate(ROOT / "examples" / "worked-example.toml")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    alarms = {r["alarm"]: r["t_s"] for r in records if r["kind"] == "alarm"}
    assert alarms == {"low_reservoir": 45 * 86_400, "empty_reservoir": 48.75 * 86_400}
    summary = records[-1]
    assert summary["kind"] == "summary"
    assert summary["reservoir_ul"] == 500
    assert summary["state"] == "empty"
    assert set(summary) >= {"t_s", "state", "reservoir_ul", "infused_ug", "battery_fraction"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_runs(path: Path) -> None:
    records = list(run_scenario(parse_scenario_text(path.read_text())))
    times = [r["t_s"] for r in records]
    assert times == sorted(times)
    assert records[-1]["kind"] == "summary"
    for record in records:
        if record["kind"] in ("alarm", "alarm_cleared"):
            assert record["alarm"] in ALARM_NAMES


def test_refused_step_is_reported_with_its_index() -> None:
    records = run_text(
        """
        [[step]]
        at = 0
        refill = { volume_ml = 20, concentration_ug_per_ml = 500 }
        [[step]]
        at = "1h"
        program = { mode = "continuous", dose_ug_per_day = 5000 }
        """
    )
    refused = [r for r in records if r["kind"] == "refused"]
    assert refused == [
        {
            "t_s": 3600,
            "kind": "refused",
            "step": 1,
            "action": "program",
            "reason": "drug_limit",
            "message": refused[0]["message"],
        }
    ]
    assert records[-1]["state"] == "stopped"


def test_repeated_steps_and_run_until_end_of_service() -> None:
    records = run_text(
        """
        [pump]
        battery_fraction = 0.05
        [[step]]
        at = 0
        refill = { volume_ml = 20, concentration_ug_per_ml = 2000 }
        [[step]]
        at = 0
        program = { mode = "continuous", dose_ug_per_day = 100 }
        [[step]]
        at = "12h"
        every = "1d"
        count = 400
        temperature = { celsius = 39, duration = "30m" }
        [run]
        until = "end_of_service"
        """
    )
    summary = records[-1]
    assert summary["state"] == "end_of_service"
    eos = [r["t_s"] for r in records if r.get("alarm") == "end_of_service"]
    assert eos == [summary["t_s"]]
    eri = [r["t_s"] for r in records if r.get("alarm") == "battery_eri"]
    assert eos[0] - eri[0] == 90 * 86_400
    exposures = [r for r in records if r["kind"] == "temperature" and r["celsius"] == 39]
    assert 0 < len(exposures) < 400  # the run stopped at end of service


def test_summary_counts_what_each_log_ring_lost() -> None:
    records = run_text(
        """
        [pump]
        event_log_capacity = 3
        link_log_capacity = 2
        [[step]]
        at = 0
        refill = { volume_ml = 20, concentration_ug_per_ml = 500 }
        [[step]]
        at = 0
        program = { mode = "continuous", dose_ug_per_day = 200 }
        [[step]]
        at = "1h"
        every = "1h"
        count = 5
        interrogate = {}
        """
    )
    summary = records[-1]
    # refill, programmed, state: 3 clinical entries, all held; 5 interrogations, 2 held.
    assert (summary["log_entries"], summary["log_clinical_lost"], summary["log_link_lost"]) == (
        5,
        0,
        3,
    )
    assert summary["log_overflowed"] == 3


def test_program_starts_a_stopped_pump_unless_told_not_to_and_start_resumes_it() -> None:
    records = run_text(
        """
        [[step]]
        at = 0
        refill = { volume_ml = 20, concentration_ug_per_ml = 500 }
        [[step]]
        at = 0
        program = { mode = "continuous", dose_ug_per_day = 200, start = false }
        [[step]]
        at = "1h"
        start = {}
        [[step]]
        at = "2h"
        program = { mode = "stopped", confirm = true }
        [[step]]
        at = "3h"
        program = { mode = "continuous", dose_ug_per_day = 220 }
        """
    )
    states = [(r["t_s"], r["state"], r["trigger"]) for r in records if r["kind"] == "state"]
    assert states == [
        (3_600, "infusing", "start"),
        (7_200, "stopped", "stop"),
        (10_800, "infusing", "program"),  # start = true by default, as scenarios always did
    ]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[pump]\nreservoir_ml = 30", "pump.reservoir_ml"),
        ("[pump]\ncolour = 'red'", "'colour'"),
        (
            "[[step]]\nat = '1d'\nrefill = { volume_ml = -2, concentration_ug_per_ml = 500 }",
            "volume_ml",
        ),
        ("[[step]]\nat = '1x'\ninterrogate = {}", "step 0.at"),
        (
            "[[step]]\nat = '2d'\ninterrogate = {}\n[[step]]\nat = '1d'\ninterrogate = {}",
            "out of order",
        ),
        ("[[step]]\nat = 0\ninterogate = {}", "'interogate'"),
        ("[[step]]\nat = 0", "exactly one action"),
        ("[[step]]\nat = 0\nmri = {}", "missing 'duration'"),
        ("[[step]]\nat = 0\nacknowledge = { alarm = 'fire' }", "acknowledge.alarm"),
        ("[[step]]\nat = 0\nprogram = { mode = 'turbo' }", "program.mode"),
        (
            "[[step]]\nat = 0\nprogram = { mode = 'flex', "
            "steps = [{ start = '25:00', dose_ug_per_day = 1 }] }",
            "start",
        ),
        ("[[step]]\nat = '2d'\ninterrogate = {}\n[run]\nuntil = '1d'", "run.until"),
        ("[[step]\nat = 0", "line 1"),
        ("[pump]\nheat_coefficient_per_c = 0.00000001", "heat_coefficient_per_c"),
        ("[pump]\nlink_log_capacity = 0", "pump.link_log_capacity"),
        (
            "[[step]]\nat = 0\nprogram = { mode = 'continuous', dose_ug_per_day = 1, "
            "start = 'yes' }",
            "program.start",
        ),
        ("[[step]]\nat = 0\nprogram = { mode = 'stopped', start = true }", "'start'"),
        ("[[step]]\nat = 0\nstart = { now = true }", "start: unknown key 'now'"),
        (
            "[[step]]\nat = 0\nrefill = { volume_ml = 2, concentration_ug_per_ml = 500, "
            "program = { mode = 'continuous', dose_ug_per_day = 1, start = false } }",
            "refill.program.start",
        ),
    ],
)
def test_malformed_scenarios_are_refused_naming_the_key(text: str, named: str) -> None:
    with pytest.raises(ScenarioError, match=None) as error:
        parse_scenario_text(text)
    assert named in str(error.value)


def test_malformed_scenario_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        "[[step]]\nat = 0\nrefill = { volume_ml = -1, concentration_ug_per_ml = 500 }\n"
    )
    result = simulate(path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "volume_ml" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "low_reservoir_alarm_ml = 19.5",
            "pump.low_reservoir_alarm_ml = 19.5: low-reservoir alarm must lie between 1 mL and "
            "capacity - 1 mL (with pump.reservoir_ml at its default)",
        ),
        (
            "reservoir_ml = 40\nlow_reservoir_alarm_ml = 39.5",
            "pump.low_reservoir_alarm_ml = 39.5: low-reservoir alarm must lie between 1 mL and "
            "capacity - 1 mL (with pump.reservoir_ml = 40)",
        ),
        (
            "empty_ml = 2",
            "pump.empty_ml = 2: empty threshold must lie between 0 and the low-reservoir alarm "
            "(with pump.low_reservoir_alarm_ml at its default)",
        ),
        (
            "low_reservoir_alarm_ml = 1\nempty_ml = 1",
            "pump.empty_ml = 1: empty threshold must lie between 0 and the low-reservoir alarm "
            "(with pump.low_reservoir_alarm_ml = 1)",
        ),
        (
            "low_reservoir_alarm_ml = 0.5",
            "pump.low_reservoir_alarm_ml = 0.5: low-reservoir alarm must lie between 1 mL and "
            "capacity - 1 mL (with pump.reservoir_ml at its default); "
            "pump.low_reservoir_alarm_ml = 0.5: empty threshold must lie between 0 and the "
            "low-reservoir alarm (with pump.empty_ml at its default)",
        ),
        (
            "catheter_volume_ml = 1.5",
            "pump.catheter_volume_ml = 1.5: catheter volume must lie between 0 and 1 mL",
        ),
        (
            'over_infusion_window = "0s"',
            'pump.over_infusion_window = "0s": over-infusion window must be positive',
        ),
    ],
)
def test_pump_values_checked_against_each_other_name_the_key(text: str, message: str) -> None:
    """Every [pump] key PumpConfig checks beyond what its own converter does."""
    with pytest.raises(ScenarioError) as error:
        parse_scenario_text(f"[pump]\n{text}")
    assert str(error.value) == message


def test_a_pump_value_checked_against_another_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad-pump.toml"
    path.write_text("[pump]\nlow_reservoir_alarm_ml = 19.5\n")
    result = simulate(path)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"pump-emulator: error: {path}: pump.low_reservoir_alarm_ml = 19.5: ")


PUMP_VALUES: dict[str, list[object]] = {
    "reservoir_ml": [20, 40, 30],
    "low_reservoir_alarm_ml": [0.5, 1, 2, 19, 19.5, 39, 39.5],
    "empty_ml": [0, 0.5, 1, 2, 39],
    "catheter_volume_ml": [0, 0.2, 1, 1.5],
    "heat_coefficient_per_c": [0, 0.08, -1],
    "thermal_time_constant": ["0s", "10m"],
    "max_dose_ug_per_day": [1, 1000, 0],
    "max_dose_increase_pct": [False, 40, 0],
    "over_infusion_window": ["0s", "1h"],
    "over_infusion_tolerance_pct": [0, 10],
    "mri_recovery_delay": ["0s", "2h"],
    "battery_fraction": [0, 1, 1.5],
    "telemetry_session_cost": ["0s", "6h", "25h", -1],
    "event_log_capacity": [1, 0],
    "link_log_capacity": [1, 0],
}


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in PUMP_VALUES.items()}))
def test_every_pump_error_names_a_key_the_table_sets(table: dict[str, object]) -> None:
    try:
        parse_scenario({"pump": table})
    except ScenarioError as error:
        for part in str(error).split("; "):
            named = re.match(r"pump\.(\w+)[ :]", part)
            assert named is not None, part
            assert named.group(1) in table, part


@pytest.mark.parametrize(
    ("text", "us"),
    [
        (90, 90_000_000),
        (1.5, 1_500_000),
        ("90s", 90_000_000),
        ("45d", 45 * 86_400_000_000),
        ("10d18h30m", (10 * 86_400 + 18 * 3_600 + 30 * 60) * 1_000_000),
        ("1w", 7 * 86_400_000_000),
        ("250ms", 250_000),
        ("0.5h", 1_800_000_000),
    ],
)
def test_durations(text: object, us: int) -> None:
    assert parse_duration_us(text, "k") == us


@pytest.mark.parametrize("bad", ["", "5", "1h1d", "1h1h", "-3s", "3 days", True, [], -1])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ScenarioError):
        parse_duration_us(bad, "k")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_summary_volumes_balance_to_the_nanolitre(path: Path) -> None:
    summary = list(run_scenario(parse_scenario_text(path.read_text())))[-1]
    nl = {
        k: round(summary[k] * 1000)
        for k in ("filled_ul", "pumped_ul", "reservoir_ul", "withdrawn_ul")
    }
    assert nl["filled_ul"] == nl["pumped_ul"] + nl["reservoir_ul"] + nl["withdrawn_ul"]


def test_a_refill_discrepancy_runs_and_warns() -> None:
    records = run_text(
        """
        [[step]]
        at = 0
        refill = { volume_ml = 20, concentration_ug_per_ml = 500 }
        [[step]]
        at = "1d"
        refill = { volume_ml = 20, concentration_ug_per_ml = 500, measured_ml = 18 }
        """
    )
    kinds = [r["kind"] for r in records]
    assert kinds.count("refill") == 2  # the step ran
    (warning,) = [r for r in records if r["kind"] == "warning"]
    assert warning["warning"] == "refill_discrepancy"
    assert "measured residual 18 mL differs from the expected 20 mL" in warning["message"]
