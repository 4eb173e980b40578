"""One log per test of everything that crossed the link, decoded where possible.

Written as the test runs (so a hung test still leaves its log), and named in the failure
report: with real hardware on the other end, this is what a tester sends the firmware team.
Each line carries the wall-clock time (UTC) to match it with the device's own logs, and the
seconds since the log began. A request's round trip (its last sending to the first reply
with its sequence number) is kept for the run's record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from protocol import Frame, FrameDecoder, Kind, MessageError, decode_message

Listener = Callable[[str, bytes], None]  # another reader of the same bytes (a pcap capture)


class LinkLog:
    def __init__(self, path: Path, also: Sequence[Listener] = ()) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("w", encoding="utf-8")
        self._start = time.monotonic()
        self._decoders = {"tx": FrameDecoder(), "rx": FrameDecoder()}
        # Others who read the same bytes as they pass (a capture, the conformance recorder).
        self.listeners: list[Listener] = list(also)
        self._sent_at: dict[int, float] = {}
        self.round_trips_s: list[float] = []
        started = datetime.now(UTC).isoformat(timespec="microseconds")
        self._file.write(
            f"# link log, started {started}; columns: UTC time, seconds since the start, "
            "tx (to the device) or rx (from it), bytes in hex; decoded frames below them\n"
        )

    def trace(self, direction: str, data: bytes) -> None:
        for listener in self.listeners:
            listener(direction, data)
        now = time.monotonic()
        wall = datetime.now(UTC).strftime("%H:%M:%S.%f")
        self._file.write(f"{wall} {now - self._start:10.6f} {direction} {data.hex()}\n")
        for event in self._decoders[direction].feed(data):
            self._file.write(f"{'':26} {direction}   {_describe(event)}\n")
            if isinstance(event, Frame):
                self._time(direction, event, now)
        self._file.flush()

    def _time(self, direction: str, frame: Frame, now: float) -> None:
        kind = Kind.of(frame.flags)
        if direction == "tx" and kind is Kind.REQUEST:
            self._sent_at[frame.seq] = now
        elif direction == "rx" and kind is Kind.REPLY:
            sent = self._sent_at.pop(frame.seq, None)
            if sent is not None:
                self.round_trips_s.append(now - sent)

    def note(self, text: str) -> None:
        """A line of the test rig's own (a capture that stopped, a restore)."""
        if not self._file.closed:
            self._file.write(f"# {text}\n")
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
