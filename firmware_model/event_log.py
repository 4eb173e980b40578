"""The pump's event log: a bounded ring that counts what it had to drop.

Listeners see every entry as it is written, however many the ring has since dropped: the
scenario runner streams a whole battery life through one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LogEntry:
    t_us: int
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


class EventLog:
    def __init__(self, capacity: int) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self.overflowed = 0  # entries pushed out of the ring since the pump was made
        self.listeners: list[Callable[[LogEntry], None]] = []

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def append(self, entry: LogEntry) -> None:
        if len(self._entries) == self._entries.maxlen:
            self.overflowed += 1
        self._entries.append(entry)
        for listener in self.listeners:
            listener(entry)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
