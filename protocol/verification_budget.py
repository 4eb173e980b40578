"""How often the pump checks a session proof against a key: at most 100 times in any 30 s.

Keys are 256-bit random values, so guessing one online is hopeless with or without a limit;
what a limit must not do is let someone without a key keep a clinician out. A lockout did
exactly that (five bad proofs, no key needed, shut every role out for 15 minutes). So there
is no lockout: the pump spends at most ``limit`` key verifications in any ``window_us`` of
link time, successful or not, and refuses a proof beyond that with RATE_LIMITED. Once
whoever spent the budget stops, it is whole again within one window: a clinician then opens
a session within 30 s, however many bad attempts came before. A guesser gets at most
288 000 proofs a day against a 128-bit proof (docs/protocol.md, section 4).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

US_PER_S = 1_000_000
DEFAULT_LIMIT = 100  # [M] verifications per window
DEFAULT_WINDOW_US = 30 * US_PER_S  # [M]


@dataclass(slots=True)
class VerificationBudget:
    limit: int = DEFAULT_LIMIT
    window_us: int = DEFAULT_WINDOW_US
    _spent: deque[int] = field(default_factory=deque)  # link times of the last verifications

    def wait_us(self, now_us: int) -> int:
        """How long until a verification may be spent; 0 when one may be now."""
        spent = self._spent
        while spent and now_us - spent[0] >= self.window_us:
            spent.popleft()
        if len(spent) < self.limit:
            return 0
        return spent[0] + self.window_us - now_us

    def spend(self, now_us: int) -> None:
        self._spent.append(now_us)

    @property
    def per_day(self) -> int:
        return self.limit * (86_400 * US_PER_S) // self.window_us
