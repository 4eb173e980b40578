"""``kill -9`` the emulator at random moments during programming commits (issue 9).

    programmer --(pty A)--> Relay --(pty B, a new one each start)--> pump-emulator --state F

A real emulator process keeps its pump in a state file (``--state``). The programmer library
commits prescriptions, A and B alternately (A: continuous 200 ug/day; B: a flex schedule
with patient boluses and another alarm volume, within the dose-change cap), through a relay
that holds the programmer's port steady while the emulator behind it is killed with SIGKILL
and started again on the same state file: a pump that reboots, seen from the programmer. Kills
come from a seeded generator: some a few milliseconds after a commit frame leaves the
programmer (before, during or after the pump's save), some at a random moment.

After every commit, and again whenever the emulator was restarted since the last look, the
prescription is read back. The promises: every start succeeds (no error, no torn
generation); the pump holds exactly the old or the new prescription, never a mix; a commit
the library reported done is never lost, one reported not done never ran.

    python -m faults.kill9_state [COMMITS] [SEED]
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from programmer import DeviceRefused, NotExecuted, Programmer, ProgrammerError
from protocol import Mode, StagePrescription, WireStep, as_stage_request
from transport import PtyChannel, SerialChannel

START_TIMEOUT_S = 60.0  # a cold start on a busy 2-core machine imports a lot
READ_DEADLINE_S = 120.0
COMMITS_PER_KILL = 5  # on average; a commit-triggered kill waits for 1 to 2N-1 of them
RELAY_POLL_S = 0.002

A = StagePrescription(Mode.CONTINUOUS, (WireStep(0, 200),), 0, 0, 0, 0, 2_000)
B = StagePrescription(
    Mode.FLEX,
    (WireStep(0, 200), WireStep(8 * 3_600, 230), WireStep(20 * 3_600, 190)),
    25,
    1_800,
    4 * 3_600,
    4,
    3_000,
)


@dataclass
class Figures:
    seed: int
    commits: int = 0
    done: int = 0
    not_done: int = 0
    unknown: int = 0
    kills: int = 0
    kills_mid_commit: int = 0  # while the library was inside commit()
    restarts: int = 0
    restart_checks: int = 0  # read-backs that were the first after a restart
    done_and_kept: int = 0  # reported done, and read back so, restarts or not
    done_across_restart: int = 0  # reported done though the pump was killed during it
    held_old: int = 0
    held_new: int = 0
    wall_seconds: float = 0.0
    broken: list[str] = field(default_factory=list)

    def broken_promises(self) -> list[str]:
        return list(self.broken)

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {self.commits} commits: {self.done} done, {self.not_done} not "
            f"done, {self.unknown} unknown; {self.kills} kills with SIGKILL "
            f"({self.kills_mid_commit} mid-commit), {self.restarts} restarts on the same state "
            f"file, {self.restart_checks} read-backs after a restart; {self.done_and_kept} "
            f"done and kept ({self.done_across_restart} across a restart); read back after "
            f"each commit: {self.held_old} old, {self.held_new} new; {len(self.broken)} "
            "broken promises; "
            f"{self.wall_seconds:.1f} s"
        )


class Emulator:
    """``python -m emulator --pty --state F``, started again and again on the same files."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.state = workdir / "pump.state"
        self.key_file = workdir / "keys.json"
        self._port_file = workdir / "port"
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> str:
        """The new pty's path; RuntimeError (with the log) if the start is not clean."""
        self._port_file.unlink(missing_ok=True)
        first = self.starts == 0
        self.starts += 1
        log_path = self.workdir / f"emulator-{self.starts}.log"
        command = [
            sys.executable, "-m", "emulator", "--pty", "--speed", "0",
            "--state", str(self.state), "--key-file", str(self.key_file), "--new-keys",
            "--port-file", str(self._port_file),
            # Pump options on the first start only: a loaded pump refuses them.
            *(["--dose-ug-per-day", "200", "--telemetry-session-cost", "0s"] if first else []),
        ]  # fmt: skip
        with log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._port_file.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"start {self.starts} failed: {log_path.read_text()!r}")
            time.sleep(0.01)  # a process starting: nothing to poll but the file
        text = log_path.read_text(errors="replace")
        if any(bad in text for bad in ("ERROR", "error:", "Traceback", "kept aside as")):
            raise RuntimeError(f"start {self.starts} not clean: {text!r}")
        return self._port_file.read_text().strip()

    def kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Relay:
    """A steady pty for the programmer, wired to whichever emulator runs (none: silence)."""

    def __init__(self) -> None:
        self.front = PtyChannel(poll_interval_s=RELAY_POLL_S)
        self.path = self.front.path
        self._back: SerialChannel | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._up, daemon=True),
            threading.Thread(target=self._down, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def attach(self, port: str) -> None:
        back = SerialChannel(port, poll_interval_s=RELAY_POLL_S)
        with self._lock:
            self._back = back

    def detach(self) -> None:
        with self._lock:
            back, self._back = self._back, None
        if back is not None:
            back.close()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.detach()
        self.front.close()

    def _up(self) -> None:
        while not self._stop.is_set():
            data = self.front.read_some()
            if data:
                # An emulator that just died: the line is dead for now.
                with self._lock, contextlib.suppress(OSError):
                    if self._back is not None:
                        self._back.write(data)

    def _down(self) -> None:
        while not self._stop.is_set():
            data = b""
            with self._lock:
                back = self._back
                if back is not None:
                    try:
                        data = back.read_some()
                    except OSError:
                        data = b""
            if data:
                self.front.write(data)
            elif back is None:
                self._stop.wait(RELAY_POLL_S)


class Killer:
    """Kills and restarts the emulator from a seeded plan, in a thread of its own."""

    def __init__(
        self,
        emulator: Emulator,
        relay: Relay,
        rng: random.Random,
        figures: Figures,
        commits_per_kill: int = COMMITS_PER_KILL,
    ) -> None:
        self.emulator = emulator
        self.commits_per_kill = commits_per_kill
        self.relay = relay
        self.rng = rng
        self.figures = figures
        self.restarts = 0  # read by the committing thread
        self.error: BaseException | None = None  # a start that failed
        self._commits_started = 0
        self._in_commit = False
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(timeout=START_TIMEOUT_S + 10)

    def committing(self, flag: bool) -> None:
        with self._changed:
            self._in_commit = flag
            self._commits_started += flag
            self._changed.notify_all()

    def kill_and_restart(self) -> None:
        self.figures.kills += 1
        self.figures.kills_mid_commit += self._in_commit
        self.emulator.kill()
        self.relay.detach()
        port = self.emulator.start()
        self.relay.attach(port)
        self.figures.restarts += 1
        self.restarts += 1

    def _commit_leaving(self, nth: int) -> Callable[[], bool]:
        return lambda: self._stop.is_set() or self._commits_started >= nth

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.rng.random() < 0.7:  # 0 to 30 ms after a commit begins to leave
                    skip = self.rng.randint(1, 2 * self.commits_per_kill - 1)
                    with self._changed:
                        self._changed.wait_for(self._commit_leaving(self._commits_started + skip))
                    delay_s = self.rng.uniform(0.0, 0.03)
                else:  # at any moment: between commits, in a read-back, in a stage
                    delay_s = self.rng.uniform(0.0, 0.04 * self.commits_per_kill)
                if self._stop.wait(delay_s):
                    return
                self.kill_and_restart()
        except BaseException as exc:  # the committing thread reports it
            self.error = exc


def run(
    commits: int = 500, seed: int = 20261123, commits_per_kill: int = COMMITS_PER_KILL
) -> Figures:
    """``commits`` commits, a kill every ``commits_per_kill`` or so, and one at the end."""
    started = time.perf_counter()
    figures = Figures(seed)
    with tempfile.TemporaryDirectory() as tmp:
        emulator = Emulator(Path(tmp))
        relay = Relay()
        killer = Killer(emulator, relay, random.Random(seed), figures, commits_per_kill)
        try:
            relay.attach(emulator.start())
            campaign = Campaign(_open(relay.path, emulator.key_file), killer, figures)
            try:
                killer.start()
                campaign.commit_all(commits)
                killer.stop()
                killer.kill_and_restart()  # the last acknowledged commit survives too
                campaign.check_after_restart()
            finally:
                campaign.programmer.link.close()
        except (RuntimeError, ProgrammerError) as exc:
            figures.broken.append(f"{type(exc).__name__}: {exc}")
        finally:
            killer.stop()
            if killer.error is not None:
                figures.broken.append(f"a start failed: {killer.error}")
            relay.close()
            emulator.stop()
    figures.wall_seconds = time.perf_counter() - started
    return figures


class Campaign:
    def __init__(self, programmer: Programmer, killer: Killer, figures: Figures) -> None:
        self.programmer = programmer
        self.killer = killer
        self.figures = figures
        self.seen_restarts = 0
        self.held = self.read()  # what the pump holds, as far as anyone knows

    def commit_all(self, commits: int) -> None:
        figures = self.figures
        for n in range(1, commits + 1):
            self.check_after_restart()
            target = B if self.held == A else A
            figures.commits += 1
            restarts = self.killer.restarts
            outcome = self.commit(target)
            across = self.killer.restarts != restarts
            held = self.read()
            if held not in (self.held, target):
                figures.broken.append(f"commit {n}: neither the old nor the new: {held}")
            elif outcome == "done" and held != target:
                figures.broken.append(f"commit {n}: reported done, then lost")
            elif outcome == "not done" and held == target:
                figures.broken.append(f"commit {n}: reported not done, yet it ran")
            figures.done += outcome == "done"
            figures.not_done += outcome == "not done"
            figures.unknown += outcome == "unknown"
            figures.done_and_kept += outcome == "done" and held == target
            figures.done_across_restart += outcome == "done" and across
            figures.held_new += held == target
            figures.held_old += held != target
            self.held = held

    def check_after_restart(self) -> None:
        """Never lose an acknowledged commit: a restart changes nothing that was known."""
        if self.killer.restarts == self.seen_restarts:
            return
        held = self.read()
        if held != self.held:
            self.figures.broken.append(f"after a restart: held {held}, expected {self.held}")
        self.held = held

    def commit(self, target: StagePrescription) -> str:
        """done, not done or unknown; staging before it may need a new session (a restart)."""
        for _ in range(20):
            try:
                staged = self.programmer.stage(target)
            except ProgrammerError:
                continue  # a read-only step: nothing that changes the pump was sent
            self.killer.committing(True)
            try:
                self.programmer.commit(staged)
                return "done"
            except (NotExecuted, DeviceRefused):
                return "not done"
            except ProgrammerError:  # OutcomeUnknown, or the link gave up
                return "unknown"
            finally:
                self.killer.committing(False)
        raise RuntimeError("could not stage a prescription 20 times in a row")

    def read(self) -> StagePrescription:
        """The prescription in force, read again across restarts; never a stale answer."""
        deadline = time.monotonic() + READ_DEADLINE_S
        while True:
            if self.killer.error is not None:
                raise RuntimeError(f"a start failed: {self.killer.error}")
            restarts = self.killer.restarts
            try:
                held = as_stage_request(self.programmer.prescription())
            except ProgrammerError:
                if time.monotonic() > deadline:
                    raise RuntimeError("could not read the prescription back") from None
                continue
            if restarts > self.seen_restarts:
                self.figures.restart_checks += 1
                self.seen_restarts = restarts
            if held not in (A, B):
                self.figures.broken.append(f"read back neither A nor B: {held}")
            return held


def _open(path: str, key_file: Path) -> Programmer:
    deadline = time.monotonic() + READ_DEADLINE_S
    while True:
        try:
            return Programmer.open(
                path, key_file=key_file, timeout_s=0.5, retries=120, budget_s=60.0,
                operator="kill9",
            )  # fmt: skip
        except ProgrammerError:
            if time.monotonic() > deadline:
                raise


def main() -> int:
    args = sys.argv[1:]
    figures = run(int(args[0]) if args else 500, int(args[1]) if len(args) > 1 else 20261123)
    print(figures.summary())
    for line in figures.broken_promises():
        print(f"broken: {line}")
    return 1 if figures.broken_promises() else 0


if __name__ == "__main__":
    sys.exit(main())
