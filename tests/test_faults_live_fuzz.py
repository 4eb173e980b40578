"""``make faults``, live fuzz, short: garbage and mutated frames to a running emulator change
nothing but its link records (``python -m faults.live_fuzz`` for the hundred thousand)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import faults.live_fuzz as live_fuzz
from faults.live_fuzz import clinical_records, run, state_differences


@pytest.mark.timeout(120)
def test_three_thousand_fuzzed_frames_change_nothing_and_the_pump_still_answers() -> None:
    figures = run(3_000, seed=11)
    print(figures.summary())
    assert figures.problems == []
    assert figures.frames == 3_000
    assert figures.state_changes == 0
    assert figures.crashes == 0
    assert figures.clinical_lost == 0
    assert figures.error_lines == 0
    assert figures.link_records_added > 0  # the garbage did reach the pump, and was logged
    # The clinical ring was full: a link record that evicted a clinical one would show.
    assert figures.clinical_free == 0
    assert figures.replies_bytes > 0
    assert {"signed, bad tag", "signed, used counter", "signed, exact replay"} <= set(
        figures.by_kind
    )


SNAPSHOT: dict[str, Any] = {
    "version": 3,
    "pump": {
        "dose_ug_per_day": 200,
        "log": {
            "written": 3,
            "clinical_lost": 0,
            "link_lost": 0,
            "clinical": [[0, 1, "programmed", {}]],
            "link": [[1, 2, "session_opened", {}], [2, 3, "refused", {}]],
        },
    },
    "outcomes": {"sessions": []},
}


def test_link_records_are_the_only_difference_allowed() -> None:
    after = copy.deepcopy(SNAPSHOT)
    log = after["pump"]["log"]
    log["link"].append([3, 4, "refused", {}])
    log["written"] = 4
    log["link_lost"] = 1
    assert state_differences(SNAPSHOT, after) == []
    after["pump"]["dose_ug_per_day"] = 210
    after["outcomes"]["sessions"].append(1)
    log["clinical"].append([4, 5, "refused", {}])
    assert state_differences(SNAPSHOT, after) == [
        ".outcomes.sessions",
        ".pump.dose_ug_per_day",
        ".pump.log.clinical",
    ]
    assert len(clinical_records(after)) == 2


@pytest.mark.timeout(120)
def test_an_emulator_that_dies_is_a_crash_counted_not_a_campaign_that_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fuzz = live_fuzz._fuzz

    def dying(programmer: Any, fuzzer: Any, emulator: Any, *rest: Any) -> None:
        emulator._process.kill()  # what a frame that crashed the pump would leave
        emulator._process.wait()
        fuzz(programmer, fuzzer, emulator, *rest)

    monkeypatch.setattr(live_fuzz, "_fuzz", dying)
    figures = live_fuzz.run(64)
    assert figures.crashes >= 1
    assert any("no answer to HELLO" in problem for problem in figures.problems)
