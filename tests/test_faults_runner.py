"""``python -m faults``: the hard targets of issue 11, the table and the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import faults.__main__ as runner
from faults.targets import CAMPAIGNS, MINIMUMS, NONZERO, ZERO, broken_targets

GOOD = {
    **{key: 0.0 for campaign in CAMPAIGNS for key in campaign.keys},
    **{key: float(value) for key, value in MINIMUMS.items()},
    "noisy_link_done": 9_500.0,
    "noisy_link_unresolved": 100.0,
    "lockout_max_clinician_delay_s": 31.0,
    "replay_attempts": 5_000.0,
    "forged_attempts": 5_000.0,
}


def test_figures_that_meet_every_target_pass() -> None:
    assert broken_targets(GOOD, quick=False) == []


@pytest.mark.parametrize("key", ZERO)
def test_every_count_that_must_be_zero_fails_the_run(key: str) -> None:
    assert broken_targets({**GOOD, key: 1.0}, quick=False) == [f"{key} = 1, must be 0"]


@pytest.mark.parametrize(
    ("change", "broken"),
    [
        ({"noisy_link_done": 9_499.0}, "noisy_link_done 9499 < 95% of 10000"),
        ({"noisy_link_unresolved": 101.0}, "noisy_link_unresolved 101 > 1 % of 10000"),
        ({"lockout_max_clinician_delay_s": 60.5}, "lockout_max_clinician_delay_s 60.5 > 60"),
        ({"soak_rss_growth_mb": 1.5}, "soak_rss_growth_mb 1.5 >= 1"),
        ({"decoder_inputs": 999_999.0}, "decoder_inputs 999999 < 1,000,000"),
        ({"soak_hours_simulated": 8_759.0}, "soak_hours_simulated 8759 < 8,760"),
    ],
)
def test_each_threshold_is_a_hard_target(change: dict[str, float], broken: str) -> None:
    assert broken_targets({**GOOD, **change}, quick=False) == [broken]


@pytest.mark.parametrize("quick", [True, False])
@pytest.mark.parametrize("key", NONZERO)
def test_a_campaign_that_tried_nothing_fails_even_a_quick_run(key: str, quick: bool) -> None:
    broken = broken_targets({**GOOD, key: 0.0}, quick=quick)
    assert f"{key} 0: nothing was tried" in broken


@pytest.mark.parametrize(
    "key", ["lockout_max_clinician_delay_s", "noisy_link_done", "noisy_link_unresolved"]
)
def test_a_figure_that_is_not_a_number_is_a_miss(key: str) -> None:
    assert broken_targets({**GOOD, key: float("nan")}, quick=True) != []


def test_a_quick_run_need_not_reach_the_full_sizes_and_a_missing_key_fails() -> None:
    small = {**GOOD, "decoder_inputs": 10.0, "kill9_trials": 5.0}
    assert broken_targets(small, quick=True) == []
    del small["kill9_torn"]
    assert broken_targets(small, quick=True) == ["kill9_torn missing"]


@pytest.mark.timeout(60)
def test_one_quick_campaign_writes_its_figures_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"decoder_inputs": 1_000_000}))
    assert runner.main(["--quick", "--only", "attacks", "--json", str(path)]) == 0
    figures = json.loads(path.read_text())
    assert figures["decoder_inputs"] == 1_000_000  # --only merges
    assert figures["replay_accepted"] == figures["forged_accepted"] == 0
    assert figures["replay_attempts"] > 0
    assert all(isinstance(value, int | float) for value in figures.values())
    out = capsys.readouterr().out
    assert "forged_accepted" in out
    assert "every hard target holds" in out


def test_a_missing_campaign_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "load", lambda campaign: None)
    assert runner.main(["--quick", "--only", "kill9", "--json", str(tmp_path / "f.json")]) == 1
    out = capsys.readouterr().out
    assert "FAIL: kill9: faults.kill9_state.campaign(quick) is missing" in out
