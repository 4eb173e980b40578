"""``pump-emulator simulate SCENARIO.toml``: run a scenario headless, one JSON object a line."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import TextIO

from firmware_model.scenario import Scenario, ScenarioError, parse_scenario_text, run_scenario

EXIT_OK = 0
EXIT_BAD_SCENARIO = 2


def simulate(
    path: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr, plot: str | None = None
) -> int:
    """Print the run's records; with ``plot``, also draw its timeline to that PNG file."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"pump-emulator: error: cannot read scenario {path}: {exc}", file=err)
        return EXIT_BAD_SCENARIO
    try:
        scenario = parse_scenario_text(text, source=path)
    except ScenarioError as exc:
        print(f"pump-emulator: error: {path}: {exc}", file=err)
        return EXIT_BAD_SCENARIO
    try:
        for record in run_scenario(scenario):
            out.write(json.dumps(record, separators=(", ", ": ")) + "\n")
        out.flush()
    except BrokenPipeError:  # `| head` closed the pipe: not an error of ours
        sys.stdout = None
    if plot is not None:
        return draw(scenario, _title(text, path), plot, err)
    return EXIT_OK


def draw(scenario: Scenario, title: str, plot: str, err: TextIO) -> int:
    """The timeline picture; matplotlib is loaded here, and only here (issue 9)."""
    from emulator.timeline_plot import PlotUnavailable, plot_timeline, timeline_series

    try:
        plot_timeline(timeline_series(scenario, title), plot)
    except PlotUnavailable as exc:
        print(f"pump-emulator: error: {exc}", file=err)
        return EXIT_BAD_SCENARIO
    except (OSError, ValueError) as exc:  # unwritable path, or a format matplotlib lacks
        print(f"pump-emulator: error: cannot write plot {plot}: {exc}", file=err)
        return EXIT_BAD_SCENARIO
    print(f"pump-emulator: timeline drawn to {plot}", file=err)
    return EXIT_OK


def _title(text: str, path: str) -> str:
    title = tomllib.loads(text).get("title")  # parsed already: the text is valid TOML
    return title if isinstance(title, str) else Path(path).name
