"""One socat pty pair for the whole link benchmark: every program, ours or a peer's, talks
over the same two pseudo-terminals, so the line is never the difference between them."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

from benchmarks.peers import stop_process

START_TIMEOUT_S = 10.0


class SocatMissing(RuntimeError):
    """socat is not on the PATH (``tools/install-socat`` installs it)."""


class SocatPair:
    """``socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B``: bytes written at A are read
    at B and back. The pair outlives the programs that open and close either end."""

    def __init__(self, folder: Path) -> None:
        self.a = str(folder / "A")
        self.b = str(folder / "B")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> SocatPair:
        socat = shutil.which("socat")
        if socat is None:
            raise SocatMissing("socat is not installed: run tools/install-socat")
        self._process = subprocess.Popen(
            [socat, f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (Path(self.a).exists() and Path(self.b).exists()):
            if self._process.poll() is not None:
                error = self._process.stderr.read() if self._process.stderr else b""
                raise RuntimeError(f"socat exited: {error.decode(errors='replace').strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"socat made no pty pair within {START_TIMEOUT_S:g} s")
            time.sleep(0.01)  # a process starting, not a race with our own code
        return self

    def stop(self) -> None:
        stop_process(self._process, 5)

    def __enter__(self) -> SocatPair:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
