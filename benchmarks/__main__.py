"""``make bench``: how fast the pure cores are, and a round trip through a real pty."""

from __future__ import annotations

import time
from collections.abc import Callable

from benchmarks.bench_hil import bench_hil_suite
from benchmarks.bench_link import bench_pty_round_trip
from benchmarks.bench_model import bench_years_of_therapy
from benchmarks.bench_protocol import bench_decode, bench_encode

BENCHES: list[Callable[[], str]] = [
    bench_decode,
    bench_encode,
    bench_years_of_therapy,
    bench_pty_round_trip,
    bench_hil_suite,
]


def main() -> int:
    started = time.perf_counter()
    for bench in BENCHES:
        print(bench(), flush=True)
    print(f"benchmarks done in {time.perf_counter() - started:.1f} s")
    return 0


raise SystemExit(main())
