"""``make bench``: our figures beside their peers', measured in one run, interleaved.

Prints a table and writes ``benchmarks/results.json``: one flat object, numbers only
(docs/performance.md: the method, and how to read each figure). ``--quick`` is a smoke run
of a few seconds: every figure is there, but too few samples to quote.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_hil import bench_hil
from benchmarks.bench_link import bench_link
from benchmarks.bench_log import bench_log
from benchmarks.bench_model import bench_model
from benchmarks.bench_protocol import bench_codec
from benchmarks.report import REQUIRED_KEYS, table
from benchmarks.settings import FULL, QUICK

PEERS = ("pymodbus", "pymavlink")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: seconds, not figures")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON to write")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    missing_tools = _missing_tools()
    if missing_tools:
        print(f"python -m benchmarks: {missing_tools} not installed (make bench installs them)",
              file=sys.stderr)  # fmt: skip
        return 2
    started = time.perf_counter()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        results.update(bench_link(settings, workdir))
        results.update(bench_codec(settings))
        results.update(bench_model(settings))
        results.update(bench_log(settings, workdir))
    results.update(bench_hil(settings))
    results["rounds"] = float(settings.rounds)
    results["quick"] = float(settings.quick)
    results["bench_s"] = time.perf_counter() - started
    bad = sorted(k for k, v in results.items() if not math.isfinite(v))
    missing = [k for k in REQUIRED_KEYS if k not in results]
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print()
    print(table(results))
    print(f"\n{len(results)} figures written to {args.output} in {results['bench_s']:.0f} s")
    if missing:
        print(f"not measured: {', '.join(missing)}")
    if bad:
        print(f"not finite: {', '.join(bad)}")
        return 1
    return 0


def _missing_tools() -> str:
    missing = [name for name in PEERS if importlib.util.find_spec(name) is None]
    if shutil.which("socat") is None:
        missing.append("socat")
    return ", ".join(missing)


raise SystemExit(main())
