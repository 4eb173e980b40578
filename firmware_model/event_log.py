"""The pump's event log: one index space, two bounded rings, so the link cannot wash history away.

Every entry gets the next absolute index, whatever its class (``log_kinds``). Clinical entries
and link entries live in separate rings, each dropping only its own oldest entry when full
and counting what it dropped: a flood of sessions or refused frames evicts link entries
only. A page is the held entries from an index on, in index order, with gaps where link
entries were evicted.

Listeners see every entry as it is written, however many the rings have since dropped: the
scenario runner streams a whole battery life through one.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from firmware_model.log_kinds import LogClass
from firmware_model.log_kinds import class_of as _class_of


@dataclass(frozen=True, slots=True)
class LogEntry:
    """``clock_us`` is the pump clock when the entry was written: a record, which a later
    clock setting must not move (``clock_set`` entries say how the clock was changed).
    None only where no clock exists (tests of the rings alone)."""

    t_us: int
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)
    clock_us: int | None = None

    def on_clock_us(self, offset_us: int) -> int:
        """The pump clock it was written at; ``offset_us`` stands in where none was kept."""
        return self.t_us + offset_us if self.clock_us is None else self.clock_us


class _Ring:
    """One class's entries with their indices, oldest first; full, it drops its own oldest.

    Dropped entries stay in the lists, before ``_head``, until there are ``capacity`` of
    them: appending stays amortised O(1) and the held indices stay one sorted list to bisect.
    """

    __slots__ = ("_entries", "_head", "_indices", "capacity", "lost")

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"a log ring needs a positive capacity, not {capacity}")
        self.capacity = capacity
        self.lost = 0
        self._indices: list[int] = []
        self._entries: list[LogEntry] = []
        self._head = 0

    def __len__(self) -> int:
        return len(self._indices) - self._head

    def append(self, index: int, entry: LogEntry) -> None:
        self._indices.append(index)
        self._entries.append(entry)
        if len(self._indices) - self._head > self.capacity:
            self._head += 1
            self.lost += 1
            if self._head >= self.capacity:
                del self._indices[: self._head]
                del self._entries[: self._head]
                self._head = 0

    def oldest(self) -> int | None:
        return self._indices[self._head] if len(self) else None

    def items_from(self, first: int) -> Iterator[tuple[int, LogEntry]]:
        """Held entries whose index is ``first`` or later, found by bisection, lazily."""
        indices, entries = self._indices, self._entries
        for position in range(bisect_left(indices, first, lo=self._head), len(indices)):
            yield indices[position], entries[position]


class EventLog:
    def __init__(self, capacity: int, link_capacity: int) -> None:
        self._rings = {LogClass.CLINICAL: _Ring(capacity), LogClass.LINK: _Ring(link_capacity)}
        self._written = 0
        self._context: dict[str, object] = {}
        self.listeners: list[Callable[[LogEntry], None]] = []

    @classmethod
    def restored(
        cls,
        capacity: int,
        link_capacity: int,
        *,
        written: int,
        held: Mapping[LogClass, Sequence[tuple[int, LogEntry]]],
        lost: Mapping[LogClass, int],
    ) -> EventLog:
        """A log exactly as saved; ``ValueError`` if the parts cannot be one log's."""
        log = cls(capacity, link_capacity)
        seen: set[int] = set()
        for log_class, ring in log._rings.items():
            entries = held.get(log_class, [])
            indices = [index for index, _ in entries]
            if len(entries) > ring.capacity:
                raise ValueError(f"{len(entries)} {log_class} entries, capacity {ring.capacity}")
            if indices != sorted(set(indices)) or not all(0 <= i < written for i in indices):
                raise ValueError(f"{log_class} indices not increasing within 0..{written - 1}")
            if seen & set(indices):
                raise ValueError("an index held in both rings")
            seen.update(indices)
            for index, entry in entries:
                ring.append(index, entry)
            ring.lost = lost.get(log_class, 0)
            if ring.lost < 0:
                raise ValueError(f"{log_class} lost count {ring.lost} is negative")
        if len(seen) + log.overflowed != written:
            raise ValueError(f"{written} written, but {len(seen)} held and {log.overflowed} lost")
        log._written = written
        return log

    # -- capacities and counters ---------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self._rings[LogClass.CLINICAL].capacity

    @property
    def link_capacity(self) -> int:
        return self._rings[LogClass.LINK].capacity

    @property
    def written(self) -> int:
        """Entries ever written: the next entry's absolute index."""
        return self._written

    @property
    def clinical_lost(self) -> int:
        return self._rings[LogClass.CLINICAL].lost

    @property
    def link_lost(self) -> int:
        return self._rings[LogClass.LINK].lost

    @property
    def overflowed(self) -> int:
        """Entries of either class pushed out since the pump was made."""
        return self.clinical_lost + self.link_lost

    @property
    def oldest_index(self) -> int:
        """The oldest index still held in either ring; ``written`` when both are empty."""
        oldest = [i for ring in self._rings.values() if (i := ring.oldest()) is not None]
        return min(oldest, default=self._written)

    @staticmethod
    def class_of(kind: str) -> LogClass:
        return _class_of(kind)

    # -- writing -------------------------------------------------------------------------

    def append(self, entry: LogEntry) -> None:
        log_class = _class_of(entry.kind)
        context = self._context
        if context and log_class is LogClass.CLINICAL:
            extra = {k: v for k, v in context.items() if k not in entry.detail}
            entry = replace(entry, detail={**entry.detail, **extra})
        self._rings[log_class].append(self._written, entry)
        self._written += 1
        for listener in self.listeners:
            listener(entry)

    @contextmanager
    def context(self, **stamp: object) -> Iterator[None]:
        """Add ``stamp`` to the detail of every clinical entry written inside the block.

        For the audit trail: the emulator stamps who is programming onto what they caused.
        Nested blocks add to the outer stamp; leaving a block restores the one before. An
        entry's own detail wins over a stamp key of the same name.
        """
        previous = self._context
        self._context = {**previous, **stamp}
        try:
            yield
        finally:
            self._context = previous

    # -- reading -------------------------------------------------------------------------

    def classified_from(self, first: int) -> Iterator[tuple[int, LogClass, LogEntry]]:
        """Held entries with index ``first`` or later, in index order, each with its class:
        a lazy view, nothing copied (a burst of log pages reads as far as it needs). Read it
        before the log is written again."""
        return heapq.merge(
            *(
                _classed(log_class, ring.items_from(first))
                for log_class, ring in self._rings.items()
            )
        )

    def classified_page(self, first: int, count: int) -> list[tuple[int, LogClass, LogEntry]]:
        """Up to ``count`` held entries with index ``first`` or later, in index order, each
        with its class; O(log n + count), as a log page is on the request hot path."""
        return list(islice(self.classified_from(first), max(0, count)))

    def page(self, first: int, count: int) -> list[tuple[int, LogEntry]]:
        """Up to ``count`` held entries with index ``first`` or later, in index order."""
        return [(index, entry) for index, _, entry in self.classified_page(first, count)]

    def held(self, log_class: LogClass) -> list[tuple[int, LogEntry]]:
        """One ring's entries with their indices, oldest first."""
        return list(self._rings[log_class].items_from(0))

    def items(self) -> Iterator[tuple[int, LogEntry]]:
        """Every held entry with its index, in index order."""
        return heapq.merge(*(ring.items_from(0) for ring in self._rings.values()))

    def __iter__(self) -> Iterator[LogEntry]:
        return (entry for _, entry in self.items())

    def __len__(self) -> int:
        return sum(len(ring) for ring in self._rings.values())


def _classed(
    log_class: LogClass, items: Iterator[tuple[int, LogEntry]]
) -> Iterator[tuple[int, LogClass, LogEntry]]:
    for index, entry in items:
        yield index, log_class, entry
