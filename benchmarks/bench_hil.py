"""The HIL suite on the plugin's own pty emulator: how many tests pass, how long it takes,
and how much simulated time its hazard tests cover (issue 10: at least 60 tests, at least 365
simulated days, at most 60 s on a 2-core machine). A figure, never a timed assertion."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bench_hil_suite() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "hil_tests", "-q", "-p", "no:cacheprovider",
             f"--junitxml={report}", "-o", "junit_family=xunit1", f"--reports-dir={tmp}"],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        elapsed_s = time.perf_counter() - started
        summary = _summary(run.stdout)
        days = _simulated_days(Path(tmp))
    return (
        f"HIL suite on its own emulator: {summary}, {elapsed_s:.1f} s wall"
        + (f", hazard tests advanced {days:g} simulated days" if days is not None else "")
        + ("" if run.returncode == 0 else f" (exit {run.returncode})")
    )


def _summary(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if " passed" in line or " failed" in line]
    return lines[-1].strip("= ") if lines else "no summary"


def _simulated_days(folder: Path) -> float | None:
    """The plugin's run record, if it wrote one with the advances it saw."""
    for path in sorted(folder.glob("**/run-*.json")):
        record = json.loads(path.read_text())
        days = record.get("simulated_days_advanced")
        if isinstance(days, int | float):
            return float(days)
    return None
