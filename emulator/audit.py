"""Link refusals in the pump's event log, without letting a flood wash the log away.

Every refused frame is audited, but the log is a bounded ring: a stream of garbage or forged
frames, each written as an entry, would push out the alarms and programming a clinician needs
to see. So within each minute of link time the first ``burst`` refusals are written one by
one, and the rest are counted and written as a single summary entry when the minute ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

US_PER_MINUTE = 60_000_000
DEFAULT_BURST = 20


class RefusalAudit:
    def __init__(
        self,
        record: Callable[[str, str], None],
        summarize: Callable[[dict[str, int]], None],
        burst: int = DEFAULT_BURST,
    ) -> None:
        self._record = record
        self._summarize = summarize
        self._burst = burst
        self._window_start_us = 0
        self._written = 0
        self._suppressed: Counter[str] = Counter()

    def refused(self, reason: str, detail: str, now_us: int) -> None:
        self.flush(now_us)
        if self._written < self._burst:
            self._written += 1
            self._record(reason, detail)
        else:
            self._suppressed[reason] += 1

    def flush(self, now_us: int) -> None:
        """Close the minute if it has passed, writing what was counted instead of logged."""
        if now_us - self._window_start_us < US_PER_MINUTE:
            return
        if self._suppressed:
            self._summarize(dict(sorted(self._suppressed.items())))
            self._suppressed.clear()
        self._window_start_us = now_us
        self._written = 0
