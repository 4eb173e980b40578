"""``pump-emulator simulate SCENARIO.toml``: run a scenario headless, one JSON object a line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from firmware_model.scenario import ScenarioError, parse_scenario_text, run_scenario

EXIT_OK = 0
EXIT_BAD_SCENARIO = 2


def simulate(path: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
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
    return EXIT_OK
