"""docs/state-machine.md is generated from the transition table and must not go stale."""

from pathlib import Path

from firmware_model import state_machine as sm
from firmware_model.diagram import document

DOC = Path(__file__).resolve().parent.parent / "docs" / "state-machine.md"


def test_committed_diagram_matches_the_table() -> None:
    assert DOC.read_text() == document(), (
        "docs/state-machine.md is stale: run "
        "`.venv/bin/python -m firmware_model.diagram > docs/state-machine.md`"
    )


def test_every_state_and_trigger_is_drawn() -> None:
    text = document()
    for state in sm.STATES:
        assert f'state "{state}" as {state}' in text
    for transition in sm.TRANSITIONS:
        assert transition["trigger"] in text


def test_requests_are_triggers_of_the_table() -> None:
    triggers = {t["trigger"] for t in sm.TRANSITIONS}
    assert triggers >= sm.REQUESTS
