"""Emulators started by ``fork`` from a process that has already imported them.

A cold ``python -m emulator`` spends ~0.3 s (far more on a busy machine) starting Python and
importing the emulator, the model and the protocol before it reads its state file: the
kill -9 campaign's thousand restarts would be mostly imports. The fork server imports
``emulator.cli`` once, then forks a child per start, which runs ``emulator.cli.main(argv)``
exactly as ``python -m emulator ARGV`` would (its own process, stdin from /dev/null, stdout
and stderr to a log file) and is killed with SIGKILL like any process. The server is single
threaded, so a fork never copies a lock another thread held.

Its client speaks JSON lines over the server's stdin and stdout:
``{"start": ARGV, "log": PATH}`` -> ``{"pid": N}``; ``{"reap": N}`` -> ``{"status": S}``
(waits for that child to end); ``{"poll": N}`` -> ``{"status": S or null}`` (null: running).

    python -m faults.emulator_forkserver   (started by ``ForkServer``)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any


class ForkServerError(RuntimeError):
    pass


class ForkServer:
    """The campaign's end: one server process, many emulators; thread-safe."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "faults.emulator_forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[1],  # where ``faults`` is: not installed
        )
        self._lock = threading.Lock()
        self._call({"ready": True})  # the imports are done once this is answered

    def start(self, argv: list[str], log_path: Path) -> int:
        """The pid of a new emulator running ``argv`` (a child of the server, not ours)."""
        return int(self._call({"start": argv, "log": str(log_path)})["pid"])

    def reap(self, pid: int) -> int:
        """Waits for emulator ``pid`` to end; its wait status."""
        return int(self._call({"reap": pid})["status"])

    def running(self, pid: int) -> bool:
        return self._call({"poll": pid})["status"] is None

    def close(self) -> None:
        process = self._process
        if process.stdin is not None:
            process.stdin.close()  # the server kills and reaps what is left, then exits
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        with self._lock:
            try:
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
                line = process.stdout.readline()
            except OSError as exc:
                raise ForkServerError(f"the fork server is gone: {exc}") from exc
        if not line:
            raise ForkServerError(f"the fork server ended (exit {process.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise ForkServerError(str(reply["error"]))
        return reply


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The server's loop: until its input ends; then it kills and reaps its children."""
    import emulator.cli  # noqa: F401  (the point: imported once, before any fork)

    children: set[int] = set()
    ended: dict[int, int] = {}  # reaped by a poll, status not yet asked for by a reap
    try:
        for line in requests:
            request = json.loads(line)
            try:
                if "start" in request:
                    reply: dict[str, Any] = {"pid": _fork(request["start"], request["log"])}
                    children.add(reply["pid"])
                elif "reap" in request:
                    pid = int(request["reap"])
                    status = ended.pop(pid) if pid in ended else os.waitpid(pid, 0)[1]
                    reply = {"status": status}
                    children.discard(pid)
                elif "poll" in request:
                    pid = int(request["poll"])
                    if pid not in ended:
                        done, status = os.waitpid(pid, os.WNOHANG)
                        if done:
                            ended[pid] = status
                    reply = {"status": ended.get(pid)}
                else:
                    reply = {"ready": True}
            except (OSError, ValueError, KeyError) as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            replies.write(json.dumps(reply).encode() + b"\n")
            replies.flush()
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass


def _fork(argv: list[str], log_path: str) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 70  # EX_SOFTWARE, should main itself fail
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        from emulator.cli import main

        code = main([str(arg) for arg in argv])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
