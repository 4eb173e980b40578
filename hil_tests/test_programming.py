"""Programming the continuous dose, and the refusals that must change nothing."""

from collections.abc import Iterator

import pytest

from hil_tests.prescription import prescription
from programmer import DeviceRefused, Programmer
from protocol import PumpState, Reason

# Lioresal intrathecal label: do not exceed 1000 ug/day (shared/domain.md [S]).
LABEL_MAX_DOSE_UG_PER_DAY = 1_000


@pytest.fixture
def restore_dose(pump: Programmer) -> Iterator[int]:
    """Put the dose back afterwards: on real hardware the next test inherits the pump."""
    before = pump.status()
    yield before.dose_ug_per_day
    if (
        before.state is PumpState.INFUSING
        and pump.status().dose_ug_per_day != before.dose_ug_per_day
    ):
        pump.set_dose(before.dose_ug_per_day)


def test_set_dose_then_read_it_back(pump: Programmer, restore_dose: int) -> None:
    # Within the +40 % a single transaction may add (Lioresal label titration [S]).
    new_dose = restore_dose + 10
    reply = pump.set_dose(new_dose)
    status = pump.status()
    assert reply.dose_ug_per_day == new_dose
    assert status.dose_ug_per_day == new_dose
    assert status.state is PumpState.INFUSING
    assert status.rate_nl_per_day == reply.rate_nl_per_day


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
