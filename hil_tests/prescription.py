"""What programming may change, as opposed to what moves on by itself (volume, clock)."""

from protocol import StatusReply


def prescription(status: StatusReply) -> tuple[object, ...]:
    return (
        status.state,
        status.dose_ug_per_day,
        status.rate_nl_per_day,
        status.concentration_ug_per_ml,
    )


def another_dose(status: StatusReply) -> int:
    """A valid dose that differs from the current one."""
    return 300 if status.dose_ug_per_day != 300 else 310
