"""One device, one test run: a lock file per device, held (flock) for the whole run.

Two runs on one pump interleave their sessions: each replaces the other's, each reads the
other's changes as its own. The programmer holds a local port exclusively only while it talks;
between tests the port is free, so the run itself must hold the device. The lock is keyed by
the device's URL (a local path with its symlinks resolved, so a udev name and /dev/ttyUSB0 are
one device) and lives in ``$XDG_RUNTIME_DIR`` (else the temporary folder), one file per
device; the holder writes its PID into it, so a refused run can say who has the device.
A process that dies drops its flock: no stale lock outlives it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path
from types import TracebackType


class DeviceBusy(Exception):
    """Another run holds the device: one line naming its PID."""


def lock_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime and Path(runtime).is_dir() else Path(tempfile.gettempdir())
    return base / f"itb-pump-hil-{os.getuid()}"


def device_key(url: str) -> str:
    """The same device, however it is named: a local path resolved, a URL lowercased."""
    if "://" not in url:
        return os.path.realpath(url)
    return url.strip().lower().rstrip("/")


class DeviceLock:
    def __init__(self, url: str, directory: Path | None = None) -> None:
        self.url = url
        key = device_key(url)
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")[-60:]
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        self.path = (directory or lock_dir()) / f"{readable}-{digest}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Hold the device, or raise DeviceBusy at once (never wait on another run)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise DeviceBusy(
                f"pump device {self.url} is in use by another test run ({holder}; lock "
                f"{self.path}): wait for it to end, or test another device"
            ) from None
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.write(fd, f"pid {os.getpid()} since {started} url {self.url}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> DeviceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    match = re.match(r"pid (\d+) since (\S+)", text)
    return f"PID {match.group(1)}, since {match.group(2)}" if match else "PID unknown"
