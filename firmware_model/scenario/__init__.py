"""Scenarios: a pump, a list of timed steps, and a run horizon; run headless, exactly.

The TOML format is documented in docs/scenarios.md; ``pump-emulator simulate`` is its shell.
"""

from firmware_model.scenario.errors import ScenarioError
from firmware_model.scenario.parse import parse_scenario, parse_scenario_text
from firmware_model.scenario.run import run_scenario
from firmware_model.scenario.spec import Scenario, Step

__all__ = [
    "Scenario",
    "ScenarioError",
    "Step",
    "parse_scenario",
    "parse_scenario_text",
    "run_scenario",
]
