"""A hundred changing commands over a pty through a noisy proxy to a real emulator process
(issue 7, point 3): the same promises as the sans-IO campaign, with real ports and time."""

from __future__ import annotations

import pytest

from faults.noisy_pty import run_pty


@pytest.mark.timeout(180)
def test_a_hundred_commands_over_a_noisy_pty_tell_the_truth() -> None:
    figures = run_pty(100, seed=20261123)
    print(figures.summary())
    assert figures.commands == 100
    assert figures.executed_twice == 0
    assert figures.done_not_executed == 0
    assert figures.not_done_executed == 0
    assert figures.done_fraction >= 0.95
    assert figures.resolved_fraction >= 0.99
    assert min(figures.bytes_flipped, figures.bytes_dropped, figures.bytes_duplicated) > 0
