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
        self.written = 0  # entries ever written: the next entry's absolute index
        self.listeners: list[Callable[[LogEntry], None]] = []

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def append(self, entry: LogEntry) -> None:
        if len(self._entries) == self._entries.maxlen:
            self.overflowed += 1
        self._entries.append(entry)
        self.written += 1
        for listener in self.listeners:
            listener(entry)

    @property
    def oldest_index(self) -> int:
        return self.written - len(self._entries)

    def page(self, first: int, count: int) -> list[tuple[int, LogEntry]]:
        """Up to ``count`` entries from absolute index ``first`` (or the oldest still held)."""
        start = max(first, self.oldest_index)
        offset = start - self.oldest_index
        entries = list(self._entries)[offset : offset + max(0, count)]
        return [(start + i, entry) for i, entry in enumerate(entries)]

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
