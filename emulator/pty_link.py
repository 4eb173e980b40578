"""``--link PATH``: a stable name for a pty whose /dev/pts number changes at every start.

The symlink and ``PATH.pid`` belong to one running emulator; a second one is refused while
that PID lives, and a link left by one that died is replaced with a warning.
"""

from __future__ import annotations

import os
from pathlib import Path


class LinkError(Exception):
    """PATH cannot be made the pty's link; the message names PATH and why."""


class PtyLink:
    def __init__(self, path: Path, pid: int) -> None:
        self.path = path
        self.pid_path = path.with_name(path.name + ".pid")
        self.pid = pid
        self._made = False

    def create(self, target: str) -> str | None:
        """Make the link; a warning to show when a stale one was replaced, else None."""
        path, notice = self.path, None
        if path.is_symlink() or path.exists():
            holder = _holder(self.pid_path)
            if holder is not None and _alive(holder):
                raise LinkError(f"{path} belongs to a running emulator (PID {holder})")
            if not path.is_symlink():
                raise LinkError(f"{path} exists and is not a link: not replaced")
            notice = f"replaced a stale link {path} (its emulator, PID {holder}, is gone)"
            path.unlink()
        try:
            path.symlink_to(target)
            tmp = self.pid_path.with_name(self.pid_path.name + ".tmp")
            tmp.write_text(f"{self.pid}\n")
            tmp.replace(self.pid_path)
        except OSError as exc:
            raise LinkError(f"cannot link {path} to {target}: {exc.strerror or exc}") from exc
        self._made = True
        return notice

    def remove(self) -> None:
        """Remove the link and PID file if they are still ours."""
        if not self._made:
            return
        if _holder(self.pid_path) == self.pid:
            self.pid_path.unlink(missing_ok=True)
            if self.path.is_symlink():
                self.path.unlink(missing_ok=True)
        self._made = False


def _holder(pid_path: Path) -> int | None:
    try:
        text = pid_path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
