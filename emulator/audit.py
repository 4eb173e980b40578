"""Link refusals in the pump's event log, without letting a flood wash the log away.

Every refused frame is audited, but the log is a bounded ring: a stream of garbage or forged
frames, each written as an entry, would push out the alarms and programming a clinician needs
to see. So within each minute of link time, from the first refusal after the last minute
closed, the first ``burst`` refusals are written one by one and the rest are counted; when
the minute is over the counts are written as one summary entry, at the next refusal or tick.
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
        self._window_start_us: int | None = None  # the minute's first refusal; None: no minute
        self._written = 0
        self._suppressed: Counter[str] = Counter()

    def refused(self, reason: str, detail: str, now_us: int) -> None:
        self.flush(now_us)
        if self._window_start_us is None:
            self._window_start_us = now_us
            self._written = 0
        if self._written < self._burst:
            self._written += 1
            self._record(reason, detail)
        else:
            self._suppressed[reason] += 1

    def flush(self, now_us: int) -> None:
        """Close the minute if it is over, writing what was counted instead of logged."""
        start = self._window_start_us
        if start is None or now_us - start < US_PER_MINUTE:
            return
        if self._suppressed:
            self._summarize(dict(sorted(self._suppressed.items())))
            self._suppressed.clear()
        self._window_start_us = None
