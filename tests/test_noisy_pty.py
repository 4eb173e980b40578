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
    # Issue 7, point 3: none run twice, none reported wrongly, >= 95 % done, >= 99 % resolved.
    assert figures.broken_promises() == []
