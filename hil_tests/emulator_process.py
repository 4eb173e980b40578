"""Starts ``pump-emulator --pty`` in a subprocess and hands back its port path.

Only the command line is used: the suite never imports the emulator, so the same tests can
point at real hardware instead.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

STARTUP_TIMEOUT_S = 60.0  # a cold start on a busy 2-core CI machine imports a lot
STOP_TIMEOUT_S = 10.0


class EmulatorStartError(RuntimeError):
    pass


class EmulatorProcess:
    def __init__(
        self,
        workdir: Path,
        port_args: tuple[str, ...] = ("--pty",),
        extra_args: tuple[str, ...] = (),
        *,
        own_key_file: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.log_path = workdir / "emulator.log"
        # The emulator writes random keys here (--new-keys); without one it uses the default
        # location.
        self.key_file: Path | None = workdir / "keys.json" if own_key_file else None
        self._env = env
        self._port_file = workdir / "port"
        self._port_args = port_args
        self._extra_args = extra_args
        self._process: subprocess.Popen[bytes] | None = None
        self.port = ""

    def start(self) -> str:
        command = [
            sys.executable,
            "-m",
            "emulator",
            *self._port_args,
            "--verbose",
            "--port-file",
            str(self._port_file),
            *(["--key-file", str(self.key_file), "--new-keys"] if self.key_file else []),
            *self._extra_args,
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._port_file.exists():
            if self._process.poll() is not None:
                raise EmulatorStartError(
                    f"emulator exited with code {self._process.returncode} before serving; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorStartError(
                    f"emulator did not serve within {STARTUP_TIMEOUT_S:g} s; log {self.log_path}"
                )
            time.sleep(0.02)  # waiting on a real process starting, not on simulated time
        self.port = self._port_file.read_text().strip()
        return self.port

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def kill(self) -> int | None:
        """SIGKILL: the emulator gets no chance to save or clean up (a crash, a power cut)."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        return self._process.returncode

    def stop(self) -> int | None:
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        return self._process.returncode

    @property
    def pid(self) -> int:
        """The emulator's process id (0 before it starts): for reading its memory."""
        return 0 if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
