"""Campaign rounds in processes of their own (faults.worker_processes): figures come back
as JSON, and a round that fails says so with its error instead of a figure."""

from __future__ import annotations

import pytest

from faults import control_faults, kill9_state
from faults.worker_processes import WorkerError, run_workers


def test_a_round_that_fails_is_an_error_naming_its_cause() -> None:
    with pytest.raises(WorkerError, match=r"exited 1: .*ValueError"):
        run_workers("faults.control_faults", [["not-a-number", "1", "0.02", "60"]], 1)


def test_rounds_run_side_by_side_and_come_back_in_order() -> None:
    # Zero kills: the round opens its emulator and programmer, commits nothing, and ends.
    results = run_workers(
        "faults.kill9_state", [["0", "5", "60"], ["0", "6", "60"], ["0", "7", "60"]], 2
    )
    assert [plain["seed"] for plain in results] == [5, 6, 7]
    assert all(plain["kills"] == 0 and plain["broken"] == [] for plain in results)


@pytest.mark.timeout(120)
def test_campaigns_stop_by_themselves_when_their_time_is_up() -> None:
    noisy = control_faults.run(50, pairs=1, budget_s=0.0)
    assert noisy.commands == 0
    killed = kill9_state.run(50, kills=10, budget_s=0.0)
    assert (killed.commits, killed.kills, killed.broken_promises()) == (0, 0, [])
