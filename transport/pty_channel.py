"""The master side of a fresh pseudo-terminal: a virtual serial port with a real device path.

Clients open ``path`` (``/dev/pts/N``) exactly as they open a USB-serial dongle. A write that
cannot go out at once is dropped rather than allowed to block: a client that stopped reading
must never stall the pump.
"""

from __future__ import annotations

import logging
import os
import select
import tty

from transport.channel import POLL_INTERVAL_S

log = logging.getLogger(__name__)


class PtyChannel:
    def __init__(self, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no line editing, no CR/LF translation, even before a client opens.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        # Holding the slave open keeps the master readable across client disconnects.
        self.path = os.ttyname(self._slave)
        self.description = f"{self.path} (pty)"
        self._poll_interval_s = poll_interval_s
        self._readable = select.poll()  # registered once: a select() call rebuilds its sets
        self._readable.register(self._master, select.POLLIN)

    def read_some(self, timeout_s: float | None = None) -> bytes:
        wait = self._poll_interval_s if timeout_s is None else max(0.0, timeout_s)
        if not self._readable.poll(wait * 1_000):
            return b""
        try:
            return os.read(self._master, 4096)
        except BlockingIOError:
            return b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = os.write(self._master, view)
            except BlockingIOError:
                log.warning("%s: nobody reading, dropped %d bytes", self.path, len(view))
                return
            view = view[sent:]

    def close(self) -> None:
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                log.debug("fd %d already closed", fd)
