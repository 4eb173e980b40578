"""Best-of-N timing: the minimum is the figure least disturbed by the rest of the machine."""

import time
from collections.abc import Callable


def best_rate(operation: Callable[[], object], count: int, repeats: int = 5) -> float:
    """Operations per second of ``operation``, best of ``repeats`` runs of ``count`` calls."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(count):
            operation()
        best = min(best, time.perf_counter() - started)
    return count / best
