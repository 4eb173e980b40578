"""A local serial device (``/dev/ttyUSB0``, ``/dev/pts/N``) read and written by its descriptor.

pyserial adds nothing on a local tty that this project uses, and costs a round trip dearly:
per request three selects, two reads, a FIONREAD ioctl and three timeout objects, and a
``tcsetattr`` plus ``flock`` whenever the read timeout changes. Here a read is one ``poll``
and one ``read``, a write one ``write``. The port is set up as pyserial sets it up (raw,
8N1, no flow control, DTR and RTS on, input flushed) and held with the same advisory
``flock``, so a pyserial program and this channel still refuse each other's second open.

Every other URL (``socket://``, ``rfc2217://``, ``loop://``, ``spy://``...) and a baud rate
that termios cannot name stay with pyserial: ``open_port`` chooses.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import struct
import termios
import time

from transport.channel import POLL_INTERVAL_S, PortOpenError

log = logging.getLogger(__name__)

READ_SIZE = 4096
_TIOCM_DTR_RTS = struct.pack("I", termios.TIOCM_DTR | termios.TIOCM_RTS)
_RETRY_ERRNOS = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})


def termios_speed(baudrate: int) -> int | None:
    """The termios constant for ``baudrate``, or None when the platform has none."""
    speed = getattr(termios, f"B{baudrate}", None)
    return speed if isinstance(speed, int) else None


class TtyChannel:
    def __init__(
        self,
        path: str,
        baudrate: int,
        poll_interval_s: float = POLL_INTERVAL_S,
        write_timeout_s: float = 1.0,
        exclusive: bool = True,
    ) -> None:
        speed = termios_speed(baudrate)
        if speed is None:
            raise PortOpenError(f"cannot open port {path}: no termios speed for {baudrate} baud")
        if write_timeout_s < 0:
            raise PortOpenError(f"cannot open port {path}: write timeout {write_timeout_s} s")
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            raise PortOpenError(f"cannot open port {path}: {_reason(exc)}") from exc
        try:
            if exclusive:
                _lock(fd)
            _set_raw(fd, speed)
            _assert_dtr_rts(fd)
            termios.tcflush(fd, termios.TCIFLUSH)
        except (OSError, termios.error) as exc:
            os.close(fd)
            raise PortOpenError(f"cannot open port {path}: {_reason(exc)}") from exc
        self._fd: int | None = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)
        self.description = path
        self._poll_interval_ms = poll_interval_s * 1_000
        self._write_timeout_s = write_timeout_s

    def read_some(self, timeout_s: float | None = None) -> bytes:
        """OSError when the device is gone (a pulled dongle reads as EIO, or as ready with
        nothing to read, as pyserial reports it)."""
        fd = self._fd
        if fd is None:
            raise OSError(errno.EBADF, "port closed")
        wait_ms = self._poll_interval_ms if timeout_s is None else max(0.0, timeout_s * 1_000)
        if not self._poll.poll(wait_ms):
            return b""
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return b""
        if not data:
            raise OSError(
                errno.EIO, "device reports readiness to read but returned no data (disconnected?)"
            )
        return data

    def write(self, data: bytes) -> None:
        """A write that cannot finish within the write timeout is dropped, never left to block."""
        fd = self._fd
        if fd is None:
            raise OSError(errno.EBADF, "port closed")
        try:
            sent = os.write(fd, data)
        except OSError as exc:
            if exc.errno not in _RETRY_ERRNOS:
                raise
            sent = 0
        if sent < len(data):
            self._write_rest(fd, memoryview(data)[sent:])

    def _write_rest(self, fd: int, view: memoryview) -> None:
        deadline = time.monotonic() + self._write_timeout_s
        writable = select.poll()
        writable.register(fd, select.POLLOUT)
        while view:
            left_s = deadline - time.monotonic()
            if left_s <= 0 or not writable.poll(left_s * 1_000):
                log.warning("%s: write timed out, dropped %d bytes", self.description, len(view))
                return
            try:
                view = view[os.write(fd, view) :]
            except OSError as exc:
                if exc.errno not in _RETRY_ERRNOS:
                    raise

    def discard_input(self) -> None:
        if self._fd is not None:
            termios.tcflush(self._fd, termios.TCIFLUSH)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            self._poll.unregister(fd)
            os.close(fd)  # the flock goes with the descriptor


def _set_raw(fd: int, speed: int) -> None:
    """What pyserial's ``_reconfigure_port`` sets for 8N1 with no flow control and no
    inter-byte timeout: raw input and output, no echo, no signals, VMIN = VTIME = 0."""
    iflag, oflag, cflag, lflag, _, _, cc = termios.tcgetattr(fd)
    cflag |= termios.CLOCAL | termios.CREAD
    lflag &= ~(
        termios.ICANON
        | termios.ECHO
        | termios.ECHOE
        | termios.ECHOK
        | termios.ECHONL
        | termios.ISIG
        | termios.IEXTEN
        | getattr(termios, "ECHOCTL", 0)
        | getattr(termios, "ECHOKE", 0)
    )
    oflag &= ~(termios.OPOST | termios.ONLCR | termios.OCRNL)
    iflag &= ~(
        termios.INLCR
        | termios.IGNCR
        | termios.ICRNL
        | termios.IGNBRK
        | getattr(termios, "IUCLC", 0)
        | getattr(termios, "PARMRK", 0)
        | termios.INPCK
        | termios.ISTRIP
        | termios.IXON
        | termios.IXOFF
        | getattr(termios, "IXANY", 0)
    )
    cflag &= ~(
        termios.CSIZE
        | termios.CSTOPB
        | termios.PARENB
        | termios.PARODD
        | getattr(termios, "CMSPAR", 0o10000000000 if os.uname().sysname == "Linux" else 0)
        | getattr(termios, "CRTSCTS", 0)
    )
    cflag |= termios.CS8
    cc[termios.VMIN] = 0
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, speed, speed, cc])


def _assert_dtr_rts(fd: int) -> None:
    """DTR and RTS on, as pyserial leaves them; a pty has no modem lines and says so."""
    try:
        fcntl.ioctl(fd, termios.TIOCMBIS, _TIOCM_DTR_RTS)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTTY):
            raise


class _InUse(OSError):
    """Another program holds the port: our advisory lock was refused."""


def _lock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise _InUse(exc.errno, exc.strerror) from exc
        raise


def _reason(exc: BaseException) -> str:
    """One line, without the path and errno the caller already says; EBUSY is a device held
    open with TIOCEXCL by another program."""
    if isinstance(exc, _InUse) or (isinstance(exc, OSError) and exc.errno == errno.EBUSY):
        return "port in use (another program has it open)"
    if isinstance(exc, termios.error):
        return str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
