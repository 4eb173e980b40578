"""Two-step programming, refusals that change nothing, and roles."""

from collections.abc import Iterator

import pytest

from hil_tests.prescription import prescription
from programmer import DeviceRefused, Programmer
from protocol import Mode, PumpState, Reason, StatusReply

# Lioresal intrathecal label: do not exceed 1000 ug/day (docs/domain.md [S]).
LABEL_MAX_DOSE_UG_PER_DAY = 1_000


@pytest.fixture
def restore_dose(pump: Programmer) -> Iterator[int]:
    """Put the dose back afterwards: on real hardware the next test inherits the pump."""
    before = pump.status()
    yield before.dose_ug_per_day
    if before.mode is Mode.CONTINUOUS and pump.status().dose_ug_per_day != before.dose_ug_per_day:
        pump.set_dose(before.dose_ug_per_day)


@pytest.mark.changes_therapy  # on a flex pump it leaves a continuous dose: put back for it
def test_set_dose_then_read_it_back(pump: Programmer, restore_dose: int) -> None:
    # Within 1.4 x the lowest daily dose in force over 24 h (Lioresal label titration [S]).
    new_dose = restore_dose + 10
    change = pump.set_dose(new_dose)
    status = pump.status()
    assert change.staged.steps[0].dose_ug_per_day == new_dose
    assert status.dose_ug_per_day == new_dose
    assert status.state is PumpState.INFUSING
    assert status.rate_nl_per_day == change.committed.rate_nl_per_day


@pytest.mark.parametrize(
    ("dose", "reason"),
    [
        (0, Reason.VALUE_OUT_OF_RANGE),
        (LABEL_MAX_DOSE_UG_PER_DAY + 1, Reason.DRUG_LIMIT),
        (0xFFFF_FFFF, Reason.DRUG_LIMIT),
    ],
)
def test_dose_out_of_range_is_refused_and_changes_nothing(
    pump: Programmer, restore_dose: int, dose: int, reason: Reason
) -> None:
    before = pump.status()
    with pytest.raises(DeviceRefused) as refused:
        pump.set_dose(dose)
    assert refused.value.reason is reason
    assert str(dose) in refused.value.message
    assert prescription(pump.status()) == prescription(before)


def test_patient_session_cannot_change_the_prescription(patient: Programmer) -> None:
    before = patient.status()
    with pytest.raises(DeviceRefused) as refused:
        patient.set_dose(before.dose_ug_per_day + 10)
    assert refused.value.reason is Reason.FORBIDDEN
    assert prescription(patient.status()) == prescription(before)


def test_stop_without_confirmation_is_refused(pump: Programmer) -> None:
    before: StatusReply = pump.status()
    with pytest.raises(DeviceRefused) as refused:
        pump.stop(confirm_withdrawal_risk=False)
    assert refused.value.reason in (Reason.CONFIRMATION_REQUIRED, Reason.WRONG_STATE)
    assert prescription(pump.status()) == prescription(before)
