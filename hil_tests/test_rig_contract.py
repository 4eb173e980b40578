"""The plugin's own rules for a device, on its own emulator: a control channel, snapshots."""

import pytest

from programmer import Programmer
from rig_control import ControlClient


@pytest.mark.needs_control
def test_the_plugins_emulator_has_a_control_channel(rig: ControlClient, pump: Programmer) -> None:
    state = rig.state()
    assert state["reservoir_nl"] // 1_000 == pump.status().reservoir_ul


@pytest.mark.destructive
@pytest.mark.needs_control
@pytest.mark.parametrize("round_", [1, 2])
def test_a_destructive_test_finds_the_pump_as_the_last_one_left_it(
    rig: ControlClient, round_: int
) -> None:
    # Both rounds start from the same snapshot: the first one's 46 days were undone.
    before = rig.state()
    assert before["alarms"] == []
    rig.advance("46d")  # past the low-reservoir alarm (docs/domain.md: day 45)
    assert [a["alarm"] for a in rig.state()["alarms"]] == ["low_reservoir"]
