"""Seven years of therapy to end of service, integrated exactly: the model's speed figure.

The scenario of issue 3: weekly dose changes, a daily 30-minute 40 °C exposure (a hot tub),
and a refill before each time the reservoir would run low. A regression guard for the
model's speed: ``sim_speedup`` (simulated seconds per wall second) at least 8 × 10⁸.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

from benchmarks.harness import median
from benchmarks.settings import Settings
from firmware_model import Continuous, PumpConfig
from firmware_model.scenario import Scenario, Step, run_scenario
from firmware_model.scenario.parse import DEFAULT_HORIZON_US
from firmware_model.units import NL_PER_ML, US_PER_DAY, US_PER_HOUR, US_PER_MIN

CONCENTRATION_UG_PER_ML = 1_000
WEEKLY_DOSES = [300, 330, 360, 390, 420, 390, 360, 330]  # µg/day, within +40 % a step
HOT_TUB = {"temperature_mc": 40_000, "duration_us": 30 * US_PER_MIN}
HEAT_EXTRA = 0.24 * 30 / (24 * 60)  # 40 °C: +24 % flow for 30 minutes a day [M]
YEARS = 8  # generate more than the battery lasts: the run stops at end of service


def seven_year_scenario() -> Scenario:
    config = PumpConfig()
    capacity_nl = config.reservoir_capacity_nl
    low_nl = config.low_reservoir_nl
    steps: list[Step] = []

    def add(at_us: int, action: str, **params: object) -> None:
        steps.append(Step(len(steps), at_us, action, dict(params)))

    refill = {"volume_nl": capacity_nl, "concentration_ug_per_ml": CONCENTRATION_UG_PER_ML}
    add(0, "refill", **refill, drug="baclofen", measured_nl=None, basal=None)
    add(0, "program", basal=Continuous(WEEKLY_DOSES[0]))
    estimate_nl = float(capacity_nl)
    for day in range(YEARS * 366):
        dose = WEEKLY_DOSES[(day // 7) % len(WEEKLY_DOSES)]
        if day and day % 7 == 0:
            add(day * US_PER_DAY + 9 * US_PER_HOUR, "program", basal=Continuous(dose))
        add(day * US_PER_DAY + 19 * US_PER_HOUR, "temperature", **HOT_TUB)
        estimate_nl -= dose / CONCENTRATION_UG_PER_ML * NL_PER_ML * (1 + HEAT_EXTRA)
        if estimate_nl - 2 * dose * NL_PER_ML / CONCENTRATION_UG_PER_ML < low_nl:
            add(
                (day + 1) * US_PER_DAY + 10 * US_PER_HOUR,
                "refill",
                **refill,
                drug="baclofen",
                measured_nl=None,
                basal=None,
            )
            estimate_nl = float(capacity_nl)
    steps.sort(key=lambda step: step.at_us)
    return Scenario(config, tuple(steps), until_us=None, horizon_us=DEFAULT_HORIZON_US)


def bench_model(settings: Settings) -> dict[str, float]:
    """``sim_speedup``: simulated seconds per wall second over the seven-year scenario (the
    median of ``model_rounds`` runs); ``sim_flex24_7y_s`` from ``bench_flex`` when it is
    there, alternating with it round by round."""
    scenario = seven_year_scenario()
    flex = _flex_bench()
    speedups: list[float] = []
    flex_s: list[float] = []
    records: list[dict[str, object]] = []
    print("model: seven years of therapy" + (", flex24" if flex else ""), flush=True)
    for _ in range(settings.model_rounds):
        started = time.perf_counter()
        records = list(run_scenario(scenario))
        wall_s = time.perf_counter() - started
        speedups.append(float(str(records[-1]["t_s"])) / wall_s)
        if flex is not None:
            flex_s.append(flex())
    figures = {
        "sim_speedup": median(speedups),
        "sim_7y_s": float(str(records[-1]["t_s"])) / median(speedups),
    }
    if flex is None:
        print(
            "  sim_flex24_7y_s left out: benchmarks/bench_flex.py (flex24_7y_seconds) is not "
            "in this tree",
            flush=True,
        )
    else:
        figures["sim_flex24_7y_s"] = median(flex_s)
    return figures


def _flex_bench() -> Callable[[], float] | None:
    """``benchmarks.bench_flex.flex24_7y_seconds``, imported only now: it may not exist."""
    try:
        module = importlib.import_module("benchmarks.bench_flex")
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.bench_flex":
            raise
        return None
    seconds: Callable[[], float] = module.flex24_7y_seconds
    return seconds
