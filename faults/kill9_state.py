"""``kill -9`` the emulator during programming commits (issues 9 and 11).

    programmer --(pty A)--> Relay --(pty B, a new one each start)--> pump-emulator --state F

A real emulator process keeps its pump in a state file (``--state``). The programmer library
commits prescriptions, A and B alternately (A: continuous 200 ug/day; B: a flex schedule
with patient boluses and another alarm volume, within the dose-change cap), through a relay
that holds the programmer's port steady while the emulator behind it is killed with SIGKILL
and started again on the same state file: a pump that reboots, seen from the programmer.

Every kill lands during a commit: a seeded generator picks a commit, and a delay after its
frame leaves the programmer drawn across the time a commit takes (the median of the last
ones: the pump reading it, running it, saving it, answering); the SIGKILL is sent only while
the library is still inside that commit, else the next commit is tried (a miss, counted).
A kill that leaves the save's temporary file behind landed while the pump was writing it.

After every commit, and again whenever the emulator was restarted since the last look, the
prescription is read back. The promises: every start succeeds (no error, no torn
generation); the pump holds exactly the old or the new prescription, never a mix; a commit
the library reported done is never lost, one reported not done never ran.

Where the time went (issue 11: 500 commits, 115 kills in 74 s): a cold ``python -m
emulator`` start is ~0.3 s of interpreter start and imports (more on a busy machine), and the
programmer waited 0.5 s per attempt before it retransmitted into the restarted pump. Starts
now fork from a process that has imported the emulator (``faults.emulator_forkserver``:
~20 ms to a served port; the emulator's own ``main`` runs as from the command line) and the
campaign's attempt timeout is 50 ms (a setting the library exposes; its default stays 1 s).
What is left grows with the pump's log: the state file gains ~0.9 kB a kill (a commit, a
session, their records), and every commit and every start saves all of it (a restart took
34 ms at 50 kB, 67 ms at 260 kB). So ``make faults`` runs 4 rounds of 250 kills, each on a
new state file, 2 at a time: 1,000 kills in under 2 minutes on a busy 2-core machine.

    python -m faults.kill9_state [COMMITS] [SEED] [KILLS]    one round
    python -m faults.kill9_state rounds [KILLS] [SEED]        make faults: 4 rounds, 2 at a time
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from faults.emulator_forkserver import ForkServer
from faults.session_keeper import SessionKeeper
from faults.worker_processes import WORKER_FLAG, print_figures, run_workers
from programmer import DeviceRefused, NotExecuted, Programmer, ProgrammerError
from protocol import Mode, Outgoing, StagePrescription, WireStep, as_stage_request
from transport import PtyChannel, SerialChannel

START_TIMEOUT_S = 60.0  # a cold start on a busy 2-core machine imports a lot
READ_DEADLINE_S = 120.0
COMMITS_PER_KILL = 2  # a kill waits for 1 to 2N-1 commits (the others time a commit)
CALIBRATION_COMMITS = 8  # timed before the first kill
WINDOW_FACTOR = 1.5  # kill delays span 1.5 x the median commit: the tail of one too
RELAY_POLL_S = 0.002
TIMEOUT_S = 0.05  # per attempt: a restart takes ~20 ms, a pty round trip well under 1 ms
FULL_KILLS = 1_000
QUICK_KILLS = 40
ROUNDS = 4  # a fresh state file each: a pump's save grows with its log (~0.9 kB a kill)
WORKERS = 2  # rounds run side by side, one process each
BUDGET_S = 420.0  # wall time for all rounds: a loaded machine stops short, and says so
DEFAULT_SEED = 20261123

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
    kills_mid_commit: int = 0  # sent while the library was inside commit()
    kill_misses: int = 0  # the chosen commit had ended before its delay: the next one taken
    killed_commits_ran: int = 0  # a killed commit the pump held afterwards
    kills_during_save: int = 0  # the save's temporary file was left behind: killed writing
    restarts: int = 0
    forked_starts: int = 0
    restart_checks: int = 0  # read-backs that were the first after a restart
    done_and_kept: int = 0  # reported done, and read back so, restarts or not
    done_across_restart: int = 0  # reported done though the pump was killed during it
    held_old: int = 0
    held_new: int = 0
    torn: int = 0  # a start that failed or set a generation aside, or neither A nor B held
    lost_acked: int = 0  # a commit reported done that the pump did not hold afterwards
    not_done_ran: int = 0  # a commit reported not done that the pump held afterwards
    wall_seconds: float = 0.0
    broken: list[str] = field(default_factory=list)  # counted in one of the figures above
    errors: list[str] = field(default_factory=list)  # a round that could not go on

    def add(self, other: Figures) -> None:
        """Another round's figures, summed into these."""
        for name in (f.name for f in fields(self)):
            if name in ("broken", "errors"):
                getattr(self, name).extend(getattr(other, name))
            elif name not in ("seed", "wall_seconds"):
                setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def kills_between(self) -> int:
        return self.kills - self.kills_mid_commit

    def broken_promises(self) -> list[str]:
        return [*self.broken, *self.errors]

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {self.commits} commits: {self.done} done, {self.not_done} not "
            f"done, {self.unknown} unknown; {self.kills} kills with SIGKILL "
            f"({self.kills_mid_commit} mid-commit, {self.kills_between} between; "
            f"{self.kill_misses} misses retried; {self.kills_during_save} while saving; "
            f"{self.killed_commits_ran} killed commits ran), "
            f"{self.restarts} restarts on the same state file ({self.forked_starts} forked), "
            f"{self.restart_checks} read-backs after a restart; {self.done_and_kept} done and "
            f"kept ({self.done_across_restart} across a restart); read back after each commit: "
            f"{self.held_old} old, {self.held_new} new; torn {self.torn}, lost acknowledged "
            f"{self.lost_acked}, not done yet ran {self.not_done_ran}; {len(self.broken)} "
            f"broken promises; {self.wall_seconds:.1f} s"
        )

    def as_campaign(self) -> dict[str, float]:
        return {
            "kill9_trials": self.kills,
            "kill9_mid_commit": self.kills_mid_commit,
            "kill9_during_save": self.kills_during_save,
            "kill9_between_commits": self.kills_between,
            "kill9_torn": self.torn,
            "kill9_lost_acked": self.lost_acked,
            "kill9_wrong_outcome": self.not_done_ran,
        }

    def breaks(self, kind: str, text: str) -> None:
        """One broken promise: counted under ``kind`` (a Figures counter) and said."""
        setattr(self, kind, getattr(self, kind) + 1)
        self.broken.append(text)


def campaign(quick: bool) -> dict[str, float]:
    """``make faults`` (at least 1,000 kills, every one during a commit) or its short
    version for the tests. A failed start is a torn state file in these figures; a round that
    could not go on for another reason raises: its figures would prove nothing."""
    figures = quick_run() if quick else run_rounds(FULL_KILLS)
    if figures.errors:
        raise RuntimeError(f"kill9: {len(figures.errors)} rounds stopped: {figures.errors[0]}")
    return figures.as_campaign()


def quick_run() -> Figures:
    """The short version (``make test``): its figures, for the tests to look further."""
    return run(10 * QUICK_KILLS, kills=QUICK_KILLS)


class StartError(RuntimeError):
    """A start that failed or was not clean: a torn or unreadable state file, as far as the
    campaign can tell (the log says which)."""


class Emulator:
    """``python -m emulator --pty --state F``, started again and again on the same files:
    forked from ``forkserver`` when given (the same ``main``, without the imports), else a
    cold ``python -m emulator``."""

    def __init__(self, workdir: Path, forkserver: ForkServer | None = None) -> None:
        self.workdir = workdir
        self.state = workdir / "pump.state"
        self.key_file = workdir / "keys.json"
        self.forkserver = forkserver
        self._port_file = workdir / "port"
        self._process: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None  # a forked emulator's (the fork server's child)
        self.starts = 0

    def start(self) -> str:
        """The new pty's path; StartError (with the log) if the start is not clean."""
        self._port_file.unlink(missing_ok=True)
        first = self.starts == 0
        self.starts += 1
        log_path = self.workdir / f"emulator-{self.starts % 4}.log"  # the last few only
        args = [
            "--pty", "--speed", "0",
            "--state", str(self.state), "--key-file", str(self.key_file), "--new-keys",
            "--port-file", str(self._port_file),
            # Pump options on the first start only: a loaded pump refuses them.
            *(["--dose-ug-per-day", "200", "--telemetry-session-cost", "0s"] if first else []),
        ]  # fmt: skip
        if self.forkserver is not None:
            self._pid = self.forkserver.start(args, log_path)
        else:
            with log_path.open("wb") as log:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "emulator", *args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._port_file.exists():
            if not self.running or time.monotonic() > deadline:
                self.kill()
                text = log_path.read_text(errors="replace")
                raise StartError(f"start {self.starts} failed: {text!r}")
            time.sleep(0.001)  # a process starting: nothing to poll but the file
        text = log_path.read_text(errors="replace")
        if any(bad in text for bad in ("ERROR", "error:", "Traceback", "kept aside as")):
            raise StartError(f"start {self.starts} not clean: {text!r}")
        return self._port_file.read_text().strip()

    def save_was_cut(self) -> bool:
        """Whether a save's ``FILE.<slot>.tmp`` is left (the next start removes it): the
        process died between opening it and renaming it over its slot."""
        return any(self.state.parent.glob(f"{self.state.name}.*.tmp"))

    @property
    def running(self) -> bool:
        if self._pid is not None:
            assert self.forkserver is not None
            return self.forkserver.running(self._pid)
        return self._process is not None and self._process.poll() is None

    def send_kill(self) -> None:
        """SIGKILL, at once: the caller times it; ``kill`` then waits for the end."""
        if self._pid is not None:
            os.kill(self._pid, signal.SIGKILL)  # not reaped yet: the pid is still this one
        elif self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL and wait until the process is gone (reaped), so no second writer runs."""
        if self._pid is not None:
            pid, self._pid = self._pid, None
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            assert self.forkserver is not None
            self.forkserver.reap(pid)
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        if self._pid is not None:
            self.kill()
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
            dead = False
            with self._lock:
                back = self._back
                if back is not None:
                    try:
                        data = back.read_some()
                    except OSError:  # the emulator died: EIO at once, until detached
                        dead = True
            if data:
                self.front.write(data)
            elif back is None or dead:
                self._stop.wait(RELAY_POLL_S)


class Killer:
    """Kills and restarts the emulator from a seeded plan, in a thread of its own, each
    time while a commit is under way."""

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
        self.killed_commit = 0  # the number of the last commit a kill landed in
        self.error: BaseException | None = None  # a start that failed
        self._commits_started = 0
        self._in_commit = False
        self._commit_began_s = 0.0
        self._durations_s: deque[float] = deque(maxlen=31)  # of commits not killed
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

    def commit_leaves(self, _outgoing: Outgoing) -> None:
        """The link's ``on_changing_request``: the commit's frame is about to be written."""
        with self._changed:
            self._in_commit = True
            self._commits_started += 1
            self._commit_began_s = time.monotonic()
            self._changed.notify_all()

    def commit_ended(self) -> None:
        with self._changed:
            if self._in_commit and self.killed_commit != self._commits_started:
                self._durations_s.append(time.monotonic() - self._commit_began_s)
            self._in_commit = False
            self._changed.notify_all()

    def restart(self) -> None:
        """After a kill: wait until it is gone, start again, wire it in."""
        self.emulator.kill()
        self.figures.kills_during_save += self.emulator.save_was_cut()
        self.relay.detach()
        port = self.emulator.start()
        self.relay.attach(port)
        self.figures.restarts += 1
        self.figures.forked_starts += self.emulator.forkserver is not None
        self.restarts += 1

    def killed_last_commit(self) -> bool:
        with self._changed:
            return self.killed_commit == self._commits_started

    def _commit_reached(self, nth: int) -> Callable[[], bool]:
        return lambda: self._stop.is_set() or self._commits_started >= nth

    def _window_s(self) -> float:
        return WINDOW_FACTOR * statistics.median(self._durations_s)

    def _run(self) -> None:
        try:
            nth = CALIBRATION_COMMITS
            while not self._stop.is_set():
                if nth <= self._commits_started:  # not a retry after a miss: a fresh pick
                    nth = self._commits_started + self.rng.randint(1, 2 * self.commits_per_kill - 1)
                with self._changed:
                    self._changed.wait_for(self._commit_reached(nth))
                    if self._stop.is_set():
                        return
                    nth = self._commits_started
                    left_s = self._commit_began_s + self.rng.uniform(0.0, self._window_s())
                self._stop.wait(max(0.0, left_s - time.monotonic()))
                with self._changed:
                    if not (self._in_commit and self._commits_started == nth):
                        self.figures.kill_misses += 1
                        nth += 1  # the very next commit
                        continue
                    self.emulator.send_kill()  # under the lock: commit() has not returned
                    self.killed_commit = nth
                    self.figures.kills += 1
                    self.figures.kills_mid_commit += 1
                self.restart()
        except BaseException as exc:  # the committing thread reports it
            self.error = exc


def run_rounds(
    kills: int = FULL_KILLS,
    seed: int = DEFAULT_SEED,
    *,
    rounds: int = ROUNDS,
    workers: int = WORKERS,
    budget_s: float = BUDGET_S,
) -> Figures:
    """``kills`` in ``rounds`` rounds, each on a new state file with its own emulator, relay
    and programmer, ``workers`` at a time in processes of their own; the figures summed.
    Each round has its share of ``budget_s`` (``kills`` in the figures says how many)."""
    started = time.perf_counter()
    shares = [kills // rounds + (i < kills % rounds) for i in range(rounds)]
    round_budget_s = budget_s / -(-rounds // workers)  # rounds run in batches of ``workers``
    args = [[str(share), str(seed + i), str(round_budget_s)] for i, share in enumerate(shares)]
    figures = Figures(seed)
    for plain in run_workers("faults.kill9_state", args, workers):
        figures.add(Figures(**plain))
    figures.wall_seconds = time.perf_counter() - started
    return figures


def run(
    commits: int = 500,
    seed: int = DEFAULT_SEED,
    commits_per_kill: int = COMMITS_PER_KILL,
    *,
    kills: int | None = None,
    forked: bool = True,
    timeout_s: float = TIMEOUT_S,
    budget_s: float = BUDGET_S,
) -> Figures:
    """Up to ``commits`` commits (until ``kills`` kills, when given, or ``budget_s``), a kill
    during one commit in every ``commits_per_kill`` or so; each restart is followed by a
    read-back."""
    started = time.perf_counter()
    figures = Figures(seed)
    with tempfile.TemporaryDirectory() as tmp:
        forkserver = ForkServer() if forked else None
        emulator = Emulator(Path(tmp), forkserver)
        relay = Relay()
        killer = Killer(emulator, relay, random.Random(seed), figures, commits_per_kill)
        try:
            relay.attach(emulator.start())
            programmer = _open(relay.path, emulator.key_file, timeout_s)
            programmer.link.on_changing_request = killer.commit_leaves
            keeper = SessionKeeper.from_key_file(programmer, emulator.key_file)
            campaign = Campaign(keeper, killer, figures)
            try:
                killer.start()
                campaign.commit_all(commits, kills, started + budget_s)
                killer.stop()
                campaign.check_after_restart()
            finally:
                campaign.programmer.link.close()
        except StartError as exc:
            figures.breaks("torn", str(exc))
        except (RuntimeError, ProgrammerError) as exc:
            if killer.error is None:  # a start that failed is torn, counted below
                figures.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            killer.stop()
            if killer.error is not None:
                figures.breaks("torn", f"a start failed: {killer.error}")
            relay.close()
            emulator.stop()
            if forkserver is not None:
                forkserver.close()
    figures.wall_seconds = time.perf_counter() - started
    return figures


class Campaign:
    def __init__(self, keeper: SessionKeeper, killer: Killer, figures: Figures) -> None:
        self.keeper = keeper
        self.programmer = keeper.programmer
        self.killer = killer
        self.figures = figures
        self.seen_restarts = 0
        self.held = self.read()  # what the pump holds, as far as anyone knows

    def commit_all(
        self, commits: int, kills: int | None = None, deadline: float | None = None
    ) -> None:
        figures = self.figures
        for n in range(1, commits + 1):
            if kills is not None and figures.kills >= kills:
                return
            if deadline is not None and time.perf_counter() > deadline:
                return
            self.check_after_restart()
            target = B if self.held == A else A
            figures.commits += 1
            restarts = self.killer.restarts
            outcome = self.commit(target)
            killed = self.killer.killed_last_commit()
            across = self.killer.restarts != restarts
            held = self.read()
            if held not in (self.held, target):
                figures.breaks("torn", f"commit {n}: neither the old nor the new: {held}")
            elif outcome == "done" and held != target:
                figures.breaks("lost_acked", f"commit {n}: reported done, then lost")
            elif outcome == "not done" and held == target:
                figures.breaks("not_done_ran", f"commit {n}: reported not done, yet it ran")
            figures.done += outcome == "done"
            figures.not_done += outcome == "not done"
            figures.unknown += outcome == "unknown"
            figures.done_and_kept += outcome == "done" and held == target
            figures.done_across_restart += outcome == "done" and across
            figures.killed_commits_ran += killed and held == target
            figures.held_new += held == target
            figures.held_old += held != target
            self.held = held

    def check_after_restart(self) -> None:
        """Never lose an acknowledged commit: a restart changes nothing that was known."""
        if self.killer.restarts == self.seen_restarts:
            return
        held = self.read()
        if held != self.held:
            self.figures.breaks("lost_acked", f"after a restart: held {held}, expected {self.held}")
        self.held = held

    def commit(self, target: StagePrescription) -> str:
        """done, not done or unknown; staging before it may need a new session (a restart)."""
        for _ in range(20):
            self.keeper.ensure()
            try:
                staged = self.programmer.stage(target)
            except ProgrammerError:
                continue  # a read-only step: nothing that changes the pump was sent
            try:
                self.programmer.commit(staged)  # the link says when its frame leaves
                return "done"
            except (NotExecuted, DeviceRefused):
                return "not done"
            except ProgrammerError:  # OutcomeUnknown, or the link gave up
                return "unknown"
            finally:
                self.killer.commit_ended()
        raise RuntimeError("could not stage a prescription 20 times in a row")

    def read(self) -> StagePrescription:
        """The prescription in force, read again across restarts; never a stale answer."""
        deadline = time.monotonic() + READ_DEADLINE_S
        while True:
            if self.killer.error is not None:
                raise RuntimeError(f"a start failed: {self.killer.error}")
            restarts = self.killer.restarts
            try:
                self.keeper.ensure()
                held = as_stage_request(self.programmer.prescription())
            except ProgrammerError:
                if time.monotonic() > deadline:
                    raise RuntimeError("could not read the prescription back") from None
                continue
            if restarts > self.seen_restarts:
                self.figures.restart_checks += 1
                self.seen_restarts = restarts
            if held not in (A, B):
                self.figures.breaks("torn", f"read back neither A nor B: {held}")
            return held


def _open(path: str, key_file: Path, timeout_s: float) -> Programmer:
    deadline = time.monotonic() + READ_DEADLINE_S
    while True:
        try:
            return Programmer.open(
                path, key_file=key_file, timeout_s=timeout_s, retries=int(60 / timeout_s),
                budget_s=60.0, operator="kill9",
            )  # fmt: skip
        except ProgrammerError:
            if time.monotonic() > deadline:
                raise


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == [WORKER_FLAG]:  # one round of ``run_rounds``, in a process of its own
        kills = int(args[1])
        return print_figures(run(10 * kills, int(args[2]), kills=kills, budget_s=float(args[3])))
    if args[:1] == ["rounds"]:
        figures = run_rounds(
            int(args[1]) if len(args) > 1 else FULL_KILLS,
            int(args[2]) if len(args) > 2 else DEFAULT_SEED,
        )
    else:
        figures = run(
            int(args[0]) if args else 500,
            int(args[1]) if len(args) > 1 else DEFAULT_SEED,
            kills=int(args[2]) if len(args) > 2 else None,
        )
    print(figures.summary())
    for line in figures.broken_promises():
        print(f"broken: {line}")
    return 1 if figures.broken_promises() else 0


if __name__ == "__main__":
    sys.exit(main())
