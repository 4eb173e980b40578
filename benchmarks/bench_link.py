"""Request/reply round trips through the real emulator on a pty, as a tester would see."""

import statistics
import tempfile
import time
from pathlib import Path

from hil_tests.emulator_process import EmulatorProcess
from programmer import Programmer

ROUND_TRIPS = 2_000


def bench_pty_round_trip() -> str:
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess(Path(tmp)) as emulator,
        Programmer.open(emulator.port, key_file=emulator.key_file) as programmer,
    ):
        latencies = []
        started = time.perf_counter()
        for _ in range(ROUND_TRIPS):
            t0 = time.perf_counter()
            programmer.status()
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
    return (
        f"pty round trip, status request: {ROUND_TRIPS / elapsed:,.0f} requests/s, "
        f"median {statistics.median(latencies) * 1e3:.3f} ms, "
        f"p99 {statistics.quantiles(latencies, n=100)[98] * 1e3:.3f} ms"
    )
