"""How the fault campaigns count: a figure that must be 0 can be made non-zero by the bug it
is there to catch (issue 11, reviewed by planting each bug)."""

from __future__ import annotations

from faults.control_faults import NoisyFigures, _tally
from faults.noisy_link import count_executions, count_handlings


def test_a_commit_run_twice_is_a_duplicate_though_the_second_run_was_refused() -> None:
    """The pump that runs a retransmitted commit again, instead of answering from its cache,
    finds nothing staged the second time: a refusal under the same request name."""
    records = [("prescription", "0000abcd:7"), ("refused", "0000abcd:7")]
    assert count_executions(records) == {"0000abcd:7": 1}
    assert count_handlings(records) == {"0000abcd:7": 2}
    figures = NoisyFigures(seed=1)
    _tally(figures, "done", None, executed=1, handled=2)
    assert figures.duplicates == 1
    assert figures.wrong_outcome == 0


def test_one_request_acted_on_once_is_no_duplicate() -> None:
    records = [
        ("prescription", "0000abcd:7"),
        ("dose_changed", "0000abcd:7"),  # one execution writes each of its kinds once
        ("refused", "0000abcd:8"),
        ("link", None),
    ]
    assert count_handlings(records) == {"0000abcd:7": 1, "0000abcd:8": 1}
    figures = NoisyFigures(seed=1)
    _tally(figures, "done", None, executed=1, handled=1)
    _tally(figures, "not done", None, executed=0, handled=1)
    assert figures.duplicates == 0
    assert figures.commands == 2
