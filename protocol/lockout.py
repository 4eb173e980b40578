"""Failed session attempts: back off, then lock out, so keys cannot be guessed online.

After each failure the next attempt must wait 1 s, then 2 s, 4 s, 8 s; the fifth failure in
a row locks session opening out for 15 minutes [M]. A success clears the count. Attempts
refused for the wait are not failures themselves. Time is the pump's clock, passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.reasons import Reason

US_PER_S = 1_000_000


@dataclass(slots=True)
class AttemptGuard:
    max_failures: int = 5
    first_backoff_us: int = US_PER_S
    lockout_us: int = 15 * 60 * US_PER_S
    failures: int = 0
    not_before_us: int = 0
    locked_until_us: int = 0

    def check(self, now_us: int) -> tuple[Reason, str] | None:
        """Why an attempt now must be refused, or None when it may proceed."""
        if now_us < self.locked_until_us:
            wait = -(-(self.locked_until_us - now_us) // US_PER_S)
            return Reason.LOCKED_OUT, f"session opening locked out for {wait} s more"
        if now_us < self.not_before_us:
            wait = -(-(self.not_before_us - now_us) // US_PER_S)
            return Reason.RATE_LIMITED, f"next session attempt allowed in {wait} s"
        return None

    def failed(self, now_us: int) -> bool:
        """Count a failure; True when it locks session opening out."""
        self.failures += 1
        if self.failures >= self.max_failures:
            self.failures = 0
            self.locked_until_us = now_us + self.lockout_us
            return True
        self.not_before_us = now_us + self.first_backoff_us * 2 ** (self.failures - 1)
        return False

    def succeeded(self) -> None:
        self.failures = 0
        self.not_before_us = 0
