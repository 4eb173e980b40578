"""Programming changes what is delivered, never whether (issue 8, point 2)."""

import pytest

from firmware_model import Continuous, Flex, FlexStep, Prescription, Pump
from firmware_model import state_machine as sm
from firmware_model.diagram import document
from tests.model.helpers import DAY, HOUR, ML, kinds, pump_with_drug


def stopped_pump() -> Pump:
    """Filled, programmed, infusing for a day, then stopped by the clinician."""
    pump = pump_with_drug()
    pump.advance_to(DAY)
    pump.stop(confirm=True)
    return pump


def prescription(dose: int) -> Prescription:
    return Prescription(Continuous(dose), None, 2 * ML)


def test_a_prescription_applied_to_a_stopped_pump_leaves_it_stopped() -> None:
    pump = stopped_pump()
    pumped = pump.accounts().pumped_q
    pump.apply_prescription(prescription(250))
    assert pump.state == "stopped"
    assert pump.prescription() == prescription(250)
    assert pump.status().rate_nl_per_day == 500_000  # computed, ready to start
    pump.advance_to(3 * DAY)
    assert pump.accounts().pumped_q == pumped
    pump.start()  # the programmed basal resumes only when asked
    assert pump.state == "infusing"
    assert pump.status().flow_nl_per_day == 500_000


def test_a_prescription_with_start_starts_a_stopped_pump() -> None:
    pump = stopped_pump()
    pump.apply_prescription(prescription(250), start=True)
    assert pump.state == "infusing"
    starts = [e for e in pump.log if e.kind == "state" and e.detail["state"] == "infusing"]
    assert [(e.t_us, e.detail["trigger"]) for e in starts] == [(0, "program"), (DAY, "program")]


@pytest.mark.parametrize("start", [False, True])
def test_programming_an_infusing_pump_changes_the_rate_and_keeps_it_infusing(
    start: bool,
) -> None:
    pump = pump_with_drug()
    pump.advance_to(HOUR)
    pump.apply_prescription(prescription(250), start=start)
    assert pump.state == "infusing"
    assert pump.status().flow_nl_per_day == 500_000
    assert kinds(pump).count("state") == 1  # only the first start, at time 0


@pytest.mark.parametrize("start", [False, True])
def test_program_keeps_or_starts_as_asked(start: bool) -> None:
    pump = pump_with_drug(dose=None)
    pump.program(Flex((FlexStep(0, 100), FlexStep(8 * 3600, 300))), start=start)
    assert pump.state == ("infusing" if start else "stopped")


def test_set_dose_still_starts_delivery() -> None:
    # The emulator builds its start-up pump with set_dose: it must be infusing.
    pump = pump_with_drug(dose=None)
    assert pump.set_dose(200) == 400_000
    assert pump.state == "infusing"


def test_refill_after_empty_still_restarts_delivery() -> None:
    pump = pump_with_drug(volume_nl=1 * ML)  # 0.5 mL usable at 0.4 mL/day
    pump.advance_to(2 * DAY)
    assert pump.state == "empty"
    pump.refill(20 * ML, 500, prescription=prescription(200))
    assert pump.state == "infusing"


def test_refill_with_a_prescription_keeps_a_stopped_pump_stopped() -> None:
    pump = stopped_pump()
    pump.refill(20 * ML, 1_000, prescription=prescription(200))
    assert pump.state == "stopped"
    pump.clinician_bolus(50, HOUR)  # and after a bolus it goes back to stopped
    pump.advance_to(DAY + 2 * HOUR)
    assert pump.state == "stopped"


def test_the_table_and_its_diagram_show_both_ways_of_programming() -> None:
    programs = [t for t in sm.TRANSITIONS if t["trigger"] == "program"]
    assert (programs[0]["source"], programs[0]["dest"]) == ([sm.STOPPED], sm.INFUSING)
    assert programs[0]["conditions"] == "start_requested"
    assert programs[1]["dest"] is None  # internal: the state is kept
    text = document()
    assert "stopped --> infusing: program [start_requested] | start" in text
    assert "stopped --> stopped: program [internal]" in text


@pytest.mark.parametrize(
    ("starts", "fault"),
    [
        ([i * 3_600 for i in range(23)] + [3_600], "step 24 starts at 3600 s, step 23 at 79200 s"),
        ([0, 86_400], "step 2 starts at 86400 s"),
        ([0, 0], "step 2 starts at 0 s, step 1 at 0 s"),
    ],
)
def test_a_schedule_out_of_order_names_the_step_and_fits_the_wire(
    starts: list[int], fault: str
) -> None:
    from firmware_model import PumpRefusal
    from protocol.messages import MAX_TEXT_LEN

    pump = pump_with_drug()
    with pytest.raises(PumpRefusal) as refusal:
        pump.program(Flex(tuple(FlexStep(s, 200) for s in starts)))
    assert refusal.value.message.endswith(fault)
    assert len(refusal.value.message) <= MAX_TEXT_LEN  # 24 starts listed would not fit
