"""Issue 9's acceptance, short: kill -9 at random moments during programming commits with
``--state``; after each restart the pump holds the old or the new prescription, never a mix,
and never loses a commit the library reported done (``python -m faults.kill9_state 500``)."""

from __future__ import annotations

import pytest

from faults.kill9_state import run


@pytest.mark.timeout(300)
def test_kill9_during_commits_never_mixes_or_loses_a_commit() -> None:
    figures = run(25, seed=20261123, commits_per_kill=3)
    print(figures.summary())
    assert figures.broken_promises() == []
    assert figures.commits == 25
    # A commit-triggered kill waits for at most 5 commits, a timed one for none: at least 4
    # kills in 25 commits, whatever the machine's speed, and one more at the end.
    assert figures.kills >= 5
    assert figures.restarts == figures.kills
    assert figures.held_old + figures.held_new == 25
    assert figures.done_and_kept == figures.done
