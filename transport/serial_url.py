"""Any port pyserial opens by URL: /dev/ttyUSB0, /dev/pts/N, socket://, rfc2217://, loop://.

A local serial device is opened exclusively (pyserial's ``flock``): two programs talking to
one pump at once interleave their bytes and both see garbage, so the second is refused with
"port in use". The lock is advisory: it stops every pyserial user that asks for it (this
project's programmer and emulator, miniterm), not a program that ignores locks.
"""

from __future__ import annotations

import errno
import logging
import os

import serial
import serial.rfc2217

from transport.channel import POLL_INTERVAL_S, ByteChannel, PortOpenError
from transport.tty_channel import TtyChannel, termios_speed

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 115_200


def open_port(
    url: str,
    baudrate: int = DEFAULT_BAUDRATE,
    poll_interval_s: float = POLL_INTERVAL_S,
    write_timeout_s: float = 1.0,
    exclusive: bool = True,
) -> ByteChannel:
    """The channel for a port named by the user: a plain device path on a POSIX system, at a
    baud rate termios can name, is read and written by its descriptor (``TtyChannel``, the
    fast path); every URL and anything else goes through pyserial (``SerialChannel``).
    Both hold a local port exclusively and say why one cannot be opened the same way."""
    if is_local_device(url) and termios_speed(baudrate) is not None:
        return TtyChannel(url, baudrate, poll_interval_s, write_timeout_s, exclusive)
    return SerialChannel(url, baudrate, poll_interval_s, write_timeout_s, exclusive)


def is_local_device(url: str) -> bool:
    """A path, not a URL: pyserial would open it with its POSIX serial class."""
    return os.name == "posix" and "://" not in url


class SerialChannel:
    def __init__(
        self,
        url: str,
        baudrate: int = DEFAULT_BAUDRATE,
        poll_interval_s: float = POLL_INTERVAL_S,
        write_timeout_s: float = 1.0,
        exclusive: bool = True,
    ) -> None:
        try:
            port = _unopened_port(url, baudrate, poll_interval_s)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise PortOpenError(f"cannot open port {url}: {_os_reason(exc)}") from exc
        # Options are set only on the classes that honour them; the others refuse or ignore.
        locking = exclusive and _takes_exclusive(port)
        try:
            if _takes_write_timeout(port):
                port.write_timeout = write_timeout_s
            if locking:
                port.exclusive = True
            port.open()
        except (serial.SerialException, NotImplementedError, ValueError, OSError) as exc:
            if isinstance(exc, OSError) and _in_use(exc, locking):
                raise PortOpenError(
                    f"cannot open port {url}: port in use (another program has it open)"
                ) from exc
            raise PortOpenError(f"cannot open port {url}: {_os_reason(exc)}{_hint(exc)}") from exc
        self._port = port
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


class _RFC2217Port(serial.rfc2217.Serial):
    """pyserial's RFC 2217 client renegotiates every port setting with the server whenever the
    read timeout changes (a round trip and 50 ms of sleep, 150 ms with ``ign_set_control``),
    though its reads use the value only locally: here a change stays local, as in labgrid's
    fork of pyserial, so ``read_some`` keeps its bound."""

    @property
    def timeout(self) -> float | None:
        return self._timeout

    @timeout.setter
    def timeout(self, timeout: float | None) -> None:
        if timeout is not None and timeout < 0:
            raise ValueError(f"Not a valid timeout: {timeout!r}")
        self._timeout = timeout


def _unopened_port(url: str, baudrate: int, timeout_s: float) -> serial.Serial | _RFC2217Port:
    if url.lower().startswith("rfc2217://"):
        port = _RFC2217Port(None, baudrate=baudrate, timeout=timeout_s)
        port.port = url  # as serial_for_url does: the URL is parsed at open
        return port
    return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout_s, do_not_open=True)


def _hint(exc: BaseException) -> str:
    """What to do about the one RFC 2217 open failure whose cause the message does not say."""
    if "waiting for option 'control'" in str(exc):
        return (
            " (the server does not confirm modem-control requests, as ser2net on a pty or a "
            "port without modem lines: add ?ign_set_control to the URL)"
        )
    return ""


def _in_use(exc: OSError, locking: bool) -> bool:
    """Our lock was refused (EWOULDBLOCK from flock), or the device is held open with
    TIOCEXCL by another program (EBUSY)."""
    return exc.errno == errno.EBUSY or (locking and exc.errno in {errno.EAGAIN, errno.EWOULDBLOCK})


def _takes_exclusive(port: serial.SerialBase) -> bool:
    """Only the platform's own serial class locks (posix flock); socket://, loop:// and
    rfc2217:// accept the setting and ignore it, and it would only mislead there."""
    return isinstance(port, serial.Serial)


def _takes_write_timeout(port: serial.SerialBase) -> bool:
    """pyserial's RFC 2217 client raises NotImplementedError for any write timeout."""
    return not isinstance(port, serial.rfc2217.Serial)


def _os_reason(exc: BaseException) -> str:
    """The innermost OS reason, without pyserial repeating the path and errno."""
    inner: BaseException = exc
    while isinstance(inner.__context__, OSError):
        inner = inner.__context__
    if inner is not exc and isinstance(inner, OSError) and inner.strerror:
        return inner.strerror
    return str(exc)
