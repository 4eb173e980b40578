"""Starting the program that serves end A of the pair, and waiting until it serves."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

READY_TIMEOUT_S = 60.0  # a cold interpreter on a busy 2-core machine imports a lot
STOP_TIMEOUT_S = 10.0


class PeerProcess:
    """``python -m MODULE ARGS`` with its output in ``log``; ready once ``ready_file``
    exists (the program writes it once its port is open)."""

    def __init__(self, args: list[str], ready_file: Path, log: Path) -> None:
        self.args = [sys.executable, "-m", *args]
        self.ready_file = ready_file
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> PeerProcess:
        self.ready_file.unlink(missing_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.ready_file.exists():
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{' '.join(self.args[2:])} exited early:\n{tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{' '.join(self.args[2:])} not ready in {READY_TIMEOUT_S} s")
            time.sleep(0.01)  # a process starting, not a race with our own code
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> PeerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_process(
    process: subprocess.Popen[bytes] | None, timeout_s: float = STOP_TIMEOUT_S
) -> None:
    """Terminate, then kill what does not stop in ``timeout_s``: a benchmark never leaves a
    peer behind."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mb(pid: int) -> float:
    """VmRSS of a running process, in MB (10⁶ bytes), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for process {pid}")
