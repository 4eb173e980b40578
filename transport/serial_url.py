"""Any port pyserial opens by URL: /dev/ttyUSB0, /dev/pts/N, socket://, rfc2217://, loop://."""

from __future__ import annotations

import logging

import serial

from transport.channel import POLL_INTERVAL_S, PortOpenError

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 115_200


class SerialChannel:
    def __init__(
        self,
        url: str,
        baudrate: int = DEFAULT_BAUDRATE,
        poll_interval_s: float = POLL_INTERVAL_S,
        write_timeout_s: float = 1.0,
    ) -> None:
        try:
            self._port = serial.serial_for_url(
                url, baudrate=baudrate, timeout=poll_interval_s, write_timeout=write_timeout_s
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            raise PortOpenError(f"cannot open port {url}: {_os_reason(exc)}") from exc
        self.description = url
        self._poll_interval_s = poll_interval_s
        self._timeout_s = poll_interval_s

    def read_some(self, timeout_s: float | None = None) -> bytes:
        wait = self._poll_interval_s if timeout_s is None else max(0.0, timeout_s)
        if wait != self._timeout_s:  # pyserial reconfigures the port on every change
            self._port.timeout = wait
            self._timeout_s = wait
        first = self._port.read(1)
        if not first:
            return b""
        waiting = self._port.in_waiting
        return first + (self._port.read(waiting) if waiting else b"")

    def write(self, data: bytes) -> None:
        """A write that cannot finish within the write timeout is dropped, never left to block."""
        try:
            self._port.write(data)
        except serial.SerialTimeoutException:
            log.warning("%s: write timed out, dropped %d bytes", self.description, len(data))

    def discard_input(self) -> None:
        self._port.reset_input_buffer()

    def close(self) -> None:
        self._port.close()


def _os_reason(exc: BaseException) -> str:
    """The innermost OS reason, without pyserial repeating the path and errno."""
    inner: BaseException = exc
    while isinstance(inner.__context__, OSError):
        inner = inner.__context__
    if inner is not exc and isinstance(inner, OSError) and inner.strerror:
        return inner.strerror
    return str(exc)
