"""``pump-programmer --capture FILE``: the link of one command, recorded as a pcap file.

The programmer's link already reports every byte it writes ("tx") and reads ("rx") to its
trace, across reopened ports too; this maps them to directions (what the programmer writes
goes to the pump), stamps them with the wall clock, and hands them to ``CaptureWriter``.
A capture that cannot be written stops with a notice and never stops the command: a
therapy change half done matters more than its record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from programmer.errors import UsageError
from programmer.link import Notice
from protocol.capture import FROM_PUMP, TO_PUMP, CaptureWriter

DIRECTION_OF = {"tx": TO_PUMP, "rx": FROM_PUMP}


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class CaptureFile:
    """A capture being written to ``path``: pass ``trace`` to the link, ``close`` at the end
    (also after an error or Ctrl-C) to write what is pending."""

    def __init__(
        self, path: Path, notice: Notice, clock_us: Callable[[], int] = wall_clock_us
    ) -> None:
        self.path = path
        self._notice = notice
        self._clock_us = clock_us
        self._failed = False
        try:
            self._stream = path.open("wb")
        except OSError as exc:
            raise UsageError(f"cannot write the capture {path}: {exc.strerror or exc}") from None
        try:
            self._writer = CaptureWriter(self._stream)
        except OSError as exc:
            self._stream.close()
            raise UsageError(f"cannot write the capture {path}: {exc.strerror or exc}") from None

    def trace(self, way: str, data: bytes) -> None:
        """The link's trace: ``way`` is "tx" (to the pump) or "rx" (from it)."""
        if self._failed:
            return
        try:
            self._writer.feed(DIRECTION_OF[way], data, self._clock_us())
        except OSError as exc:
            self._stop(exc)

    def close(self) -> None:
        if self._stream.closed:
            return
        try:
            if not self._failed:
                self._writer.flush()
        except OSError as exc:
            self._stop(exc)
        finally:
            self._stream.close()

    def _stop(self, exc: OSError) -> None:
        self._failed = True
        self._notice(f"capture {self.path}: {exc.strerror or exc}; nothing more is recorded")

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
