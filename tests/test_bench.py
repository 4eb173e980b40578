"""``make bench``: the harness's arithmetic, and a smoke run writing every figure the issue
names as a finite number (the figures themselves are never asserted: they are not tests)."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.harness import interleave, median, p99, ratio_median
from benchmarks.report import REQUIRED_KEYS, table

ROOT = Path(__file__).resolve().parent.parent


def test_phases_take_turns_round_by_round() -> None:
    order: list[str] = []

    def phase(name: str, figure: float) -> tuple[str, Callable[[], float]]:
        def run() -> float:
            order.append(name)
            return figure

        return name, run

    runs = interleave([phase("a", 1.0), phase("b", 2.0)], rounds=3, say=lambda _: None)
    assert order == ["a", "b", "a", "b", "a", "b"]
    assert runs == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}


def test_a_ratio_is_the_median_of_per_round_ratios() -> None:
    # Medians taken first would give 3 / 3 = 1; the per-round ratios are 0.5, 1.5, 4.
    assert ratio_median([1.0, 3.0, 8.0], [2.0, 2.0, 2.0]) == 1.5
    assert median([5.0, 1.0, 3.0]) == 3.0
    assert p99([float(i) for i in range(1, 1001)]) == pytest.approx(990.99)
    with pytest.raises(ValueError, match="one figure of each side"):
        ratio_median([1.0], [1.0, 2.0])


def test_the_table_says_which_targets_hold() -> None:
    text = table({"rtt_us_median": 300.0, "pty_echo_rtt_us": 100.0, "rtt_vs_echo": 3.0,
                  "line_efficiency": 0.95})  # fmt: skip
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()[2:]}
    assert rows["status RTT median, µs (peer: raw echo)"].rstrip(" |").endswith("FAIL")
    assert rows["log download, share of 115,200 baud"].rstrip(" |").endswith("pass")


@pytest.mark.timeout(240)  # about 10 s alone; a busy 2-core machine starts interpreters slowly
def test_a_quick_run_writes_every_figure_as_a_finite_number(tmp_path: Path) -> None:
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (tools/install-socat)")
    for peer in ("pymodbus", "pymavlink"):
        if importlib.util.find_spec(peer) is None:
            pytest.skip(f"{peer} is not installed (the bench extra: make bench installs it)")
    output = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=220,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(output.read_text())
    required = set(REQUIRED_KEYS)
    if not (ROOT / "benchmarks" / "bench_flex.py").exists():
        required.discard("sim_flex24_7y_s")  # its helper's file: reported as not measured
        assert "sim_flex24_7y_s" in run.stdout
    assert required <= results.keys(), sorted(required - results.keys())
    assert all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in results.values()
    ), results
    assert results["quick"] == 1
    assert results["hil_tests"] >= 1
    assert "| figure" in run.stdout
