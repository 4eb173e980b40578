"""The HIL suite on the plugin's own pty emulator: how many tests pass, how long it takes,
and how much simulated time its hazard tests cover (issue 10: at least 60 tests, at most
60 s on a 2-core machine). A figure, never a timed assertion."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.settings import Settings

RUN_TIMEOUT_S = 900


def bench_hil(settings: Settings) -> dict[str, float]:
    print(f"HIL suite: pytest {' '.join(settings.hil_args)}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", *settings.hil_args, "-q", "-p", "no:cacheprovider",
             f"--reports-dir={tmp}"],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        )  # fmt: skip
        elapsed_s = time.perf_counter() - started
        days = _simulated_days(Path(tmp))
    counts = _counts(run.stdout)
    print(f"  {_summary(run.stdout)}, {elapsed_s:.1f} s (exit {run.returncode})", flush=True)
    figures = {
        "hil_tests": float(counts.get("passed", 0)),
        "hil_failed": float(counts.get("failed", 0) + counts.get("error", 0)),
        "hil_suite_s": elapsed_s,
    }
    if days is not None:
        figures["hil_simulated_days"] = days
    return figures


def _summary(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if " passed" in line or " failed" in line]
    return lines[-1].strip("= ") if lines else "no summary"


def _counts(stdout: str) -> dict[str, int]:
    """pytest's last summary line, e.g. ``61 passed, 2 skipped in 40.1s``, as counts."""
    found = re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)", _summary(stdout))
    return {word.rstrip("s") if word.startswith("error") else word: int(n) for n, word in found}


def _simulated_days(folder: Path) -> float | None:
    """The plugin's run record, if it wrote one with the advances it saw."""
    for path in sorted(folder.glob("**/run-*.json")):
        record = json.loads(path.read_text())
        days = record.get("simulated_days_advanced")
        if isinstance(days, int | float):
            return float(days)
    return None
