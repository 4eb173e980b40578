"""``sim_flex24_7y_s``: wall seconds to load and simulate ``benchmarks/flex24_7y.toml`` once.

A 24-step flex schedule (a step change every hour), a daily hour at 40 °C under a 40-minute
thermal lag and a refill every 8 weeks, to end of service: the heaviest load the model's
event loop sees per simulated year. Target (issue 11): at most 0.25 s.

    python -m benchmarks.bench_flex
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from firmware_model.scenario import parse_scenario_text, run_scenario

SCENARIO_PATH = Path(__file__).with_name("flex24_7y.toml")
TARGET_S = 0.25
RUNS = 5


def simulate_once() -> float:
    """Wall seconds to read, parse and run the scenario to its summary, once."""
    started = time.perf_counter()
    scenario = parse_scenario_text(SCENARIO_PATH.read_text(encoding="utf-8"), str(SCENARIO_PATH))
    for _record in run_scenario(scenario):
        pass
    return time.perf_counter() - started


def flex24_7y_seconds(runs: int = RUNS) -> float:
    """The median of ``runs`` loads and runs (after one warm-up): wall seconds for one."""
    simulate_once()
    return statistics.median(simulate_once() for _ in range(runs))


def main() -> int:
    seconds = flex24_7y_seconds()
    verdict = "meets" if seconds <= TARGET_S else "MISSES"
    print(f"sim_flex24_7y_s {seconds:.3f} ({verdict} the {TARGET_S} s target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
