"""The table of log kinds: complete for what is written, and the classes issue 7 asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_model.log_kinds import KINDS, LogClass, class_of, vocabulary
from firmware_model.scenario import parse_scenario_text, run_scenario

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))
LINK_KINDS = {
    "session_opened",
    "session_closed",
    "interrogation",
    "link_refused",
    "link_refusals_suppressed",
}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_kind_an_example_writes_is_in_the_table(path: Path) -> None:
    records = list(run_scenario(parse_scenario_text(path.read_text())))
    written = {r["kind"] for r in records if r["kind"] != "summary"}
    assert written
    assert written <= set(KINDS)


def test_link_kinds_are_sessions_interrogations_and_unauthenticated_refusals() -> None:
    assert {kind for kind, spec in KINDS.items() if spec.log_class is LogClass.LINK} == LINK_KINDS


@pytest.mark.parametrize(
    "kind", ["refused", "programmed", "refill", "bolus_started", "clock_set", "alarm", "state"]
)
def test_what_changes_the_pump_is_clinical(kind: str) -> None:
    assert class_of(kind) is LogClass.CLINICAL


def test_an_unknown_kind_is_clinical() -> None:
    assert "firmware_upgraded" not in KINDS
    assert class_of("firmware_upgraded") is LogClass.CLINICAL


def test_vocabulary_rows_cover_the_table_once_clinical_first() -> None:
    rows = list(vocabulary())
    assert [kind for kind, *_ in rows] == sorted(
        KINDS, key=lambda kind: list(LogClass).index(KINDS[kind].log_class)
    )
    for kind, log_class, keys, meaning in rows:
        assert (log_class, keys, meaning) == (
            KINDS[kind].log_class,
            KINDS[kind].keys,
            KINDS[kind].meaning,
        )
        assert meaning
        assert "\n" not in meaning
