"""Resident memory of this process or another, in MB: how the campaigns see a leak."""

from __future__ import annotations

import os
import resource

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 1_048_576


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size now (Linux ``/proc``); elsewhere this process's peak. Another
    process's that cannot be read raises: a growth of 0 from two unread figures would pass
    for no leak."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE_MB
    except (OSError, IndexError, ValueError):
        if pid == "self":
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        raise RuntimeError(f"cannot read the resident memory of process {pid}") from None
