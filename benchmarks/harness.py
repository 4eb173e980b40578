"""Interleaving: ours and each peer run in turns, A B A B, so that whatever else the machine
does lands on both alike; a ratio is the median of the per-round ratios, a headline figure
the median over rounds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

R = TypeVar("R")


def interleave(
    phases: Sequence[tuple[str, Callable[[], R]]],
    rounds: int,
    say: Callable[[str], None] = print,
) -> dict[str, list[R]]:
    """Run every phase once a round, in the order given, for ``rounds`` rounds."""
    results: dict[str, list[R]] = {name: [] for name, _ in phases}
    for round_no in range(rounds):
        started = time.perf_counter()
        for name, phase in phases:
            results[name].append(phase())
        say(f"  round {round_no + 1}/{rounds} ({time.perf_counter() - started:.1f} s)")
    return results


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (exclusive method; the largest value for very few samples)."""
    if len(values) < 2:
        return float(values[0])
    return float(statistics.quantiles(values, n=100)[98])


def ratio_median(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """The median of per-round ratios ours[i] / theirs[i]."""
    if len(ours) != len(theirs) or not ours:
        raise ValueError("ratios need one figure of each side per round")
    return median([a / b for a, b in zip(ours, theirs, strict=True)])


def rate(count: int, operation: Callable[[], object]) -> float:
    """``count`` / seconds one call of ``operation`` (which does ``count`` things) takes."""
    started = time.perf_counter()
    operation()
    return count / (time.perf_counter() - started)
