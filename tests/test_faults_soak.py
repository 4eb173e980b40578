"""``make faults``, soak, short: two simulated months (one refill) of the worked example with
daily heat under continuous polling, without an error (``python -m faults.soak`` for the
year)."""

from __future__ import annotations

import pytest

from faults.soak import CHUNKS_PER_DAY, run


@pytest.mark.timeout(180)
def test_two_simulated_months_polled_all_along_without_an_error() -> None:
    figures = run(60)
    print(figures.summary())
    assert figures.problems == []
    assert figures.errors == 0
    assert figures.hours_simulated == 60 * 24
    assert figures.refills == figures.refills_done == 1
    assert figures.polls >= 60 * CHUNKS_PER_DAY  # at least one poll between two steps
    assert figures.rss_end_mb > 0
