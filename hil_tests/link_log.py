"""One log per test of everything that crossed the link, decoded where possible.

Written as the test runs (so a hung test still leaves its log), and named in the failure
report: with real hardware on the other end, this is what a tester sends the firmware team.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from protocol import Frame, FrameDecoder, Kind, MessageError, decode_message


class LinkLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("w", encoding="utf-8")
        self._start = time.monotonic()
        self._decoders = {"tx": FrameDecoder(), "rx": FrameDecoder()}
        # Others who read the same bytes as they pass (the conformance recorder).
        self.listeners: list[Callable[[str, bytes], None]] = []

    def trace(self, direction: str, data: bytes) -> None:
        for listener in self.listeners:
            listener(direction, data)
        elapsed = time.monotonic() - self._start
        self._file.write(f"{elapsed:10.6f} {direction} {data.hex()}\n")
        for event in self._decoders[direction].feed(data):
            self._file.write(f"{'':10} {direction}   {_describe(event)}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.path.read_text(errors="replace").splitlines()[-lines:])


def _describe(event: object) -> str:
    if not isinstance(event, Frame):
        return f"unreadable: {getattr(event, 'reason', '?')}"
    signed = f" signed #{event.counter}" if event.authenticated else ""
    try:
        message = decode_message(event)
    except MessageError as exc:
        return f"{Kind.of(event.flags).value} seq {event.seq}{signed}: {exc.reason.name}"
    return f"{Kind.of(event.flags).value} seq {event.seq}{signed}: {message}"
