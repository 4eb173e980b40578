"""Programming commands through line faults the emulator injects itself (its control channel).

    programmer --(pty)--> pump-emulator --control unix:...   faults: 1/300 flips, drops and
                                                              duplicates each way

The test rig turns on the link issue's noise model inside the emulator (``faults``), then
commits prescriptions through the programmer library: continuous doses alternating 200 and
210 ug/day (+5 %, inside the dose-change cap both ways), each staged, read back and committed
as ``set-dose`` does. Every commit ends done, not done or outcome unknown, as the library
reports it at once; after an unknown one the campaign reads what the pump holds, so that the
next command changes the dose again. Executions are counted from the pump's own log
(``req=`` on each record), read over the control channel, which no fault touches.

Where a command's time went (cProfile, issue 11: 216 ms a command): 93 % waiting in
``select`` for replies that a fault had destroyed. A damaged request costs little (the pump
answers an unsigned ``BAD_CRC``: sent again at once); a damaged reply costs a whole attempt
timeout. At 1 % of bytes damaged each way, a stage round trip (54 + 70 bytes) arrives whole
about three times in ten, a commit (44 + 32) about half the time, a prescription read
(27 + 55) four times in ten; ``set_dose`` reads the prescription twice, stages and commits,
so it waited out about four timeouts of 50 ms. Here the prescription in force is known, so a command
is two round trips (stage, commit); the attempt timeout is 20 ms (a pty round trip takes well
under 1 ms; the library's default, 1 s, stays for real lines: this is a setting the library
exposes); and 4 emulator and programmer pairs run in parallel processes, each mostly waiting
(~7 ms of CPU a command for both ends), their figures summed: 10,000 commands in ~2 minutes.

    python -m faults.control_faults [COMMANDS] [SEED] [PAIRS]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, fields
from typing import Any

from faults.noisy_link import count_executions, count_handlings, wrong_outcomes
from faults.noisy_pty import open_through
from faults.rigged_emulator import rigged_emulator
from faults.session_keeper import SessionKeeper
from faults.worker_processes import WORKER_FLAG, print_figures, run_workers
from programmer import ProgrammerError
from programmer.client import continuous
from programmer.errors import DeviceRefused, NotExecuted, OutcomeUnknown
from protocol import Mode, Outgoing, PrescriptionReply, Reason, request_id
from rig_control import ControlClient

RATE = 1 / 300  # docs/protocol.md section 1: the project's noise model, each way
DOSES = (200, 210)  # ug/day, +5 %: inside the 40 % dose-change cap both ways
TIMEOUT_S = 0.02  # per attempt: a pty answers in well under 1 ms, a busy machine in a few
FULL_COMMANDS = 10_000
QUICK_COMMANDS = 150
PAIRS = 4  # emulator + programmer pairs in parallel: each mostly waits for a timeout
BUDGET_S = 480.0  # wall time, pairs side by side: a loaded machine stops short, and says so
LOG_EVERY = 1_000  # commands between reads of the pump's log: well inside its 4,096 records
STAGE_TRIES = 50
READ_TRIES = 50
DEFAULT_SEED = 20261123


@dataclass
class NoisyFigures:
    """One campaign's figures (or one pair's: ``add`` sums them)."""

    seed: int
    pairs: int = 1
    commands: int = 0
    done: int = 0
    not_done: int = 0
    unknown: int = 0
    refused_by_state: int = 0  # not done for the pump's state or limits, not the link
    done_not_executed: int = 0
    not_done_executed: int = 0
    unknown_executed: int = 0  # not an error: what the pump's log says became of them
    duplicates: int = 0  # executed more than once
    stage_retries: int = 0  # a read-only stage sent again: nothing changes
    retransmissions: int = 0
    reconnections: int = 0
    sessions_reopened: int = 0  # by the campaign, after the link had given one up
    wall_seconds: float = 0.0

    @property
    def wrong_outcome(self) -> int:
        return self.done_not_executed + self.not_done_executed

    def add(self, other: NoisyFigures) -> None:
        for name in (f.name for f in fields(self)):
            if name not in ("seed", "pairs", "wall_seconds"):
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def broken_promises(self) -> list[str]:
        """The issue's targets this run missed; empty when they all hold."""
        broken = wrong_outcomes(self.duplicates, self.done_not_executed, self.not_done_executed)
        if self.done < 0.95 * self.commands:
            broken.append(f"only {self.done} of {self.commands} done (< 95 %)")
        if self.unknown > 0.01 * self.commands:
            broken.append(f"{self.unknown} of {self.commands} unresolved (> 1 %)")
        if self.commands and not self.retransmissions:
            broken.append("no retransmission: the faults were not on")
        return broken

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {self.commands} commits through emulator faults "
            f"({self.pairs} pairs): {self.done} done, {self.not_done} not done "
            f"({self.refused_by_state} by the pump's state or limits), {self.unknown} unknown "
            f"({self.unknown_executed} of them had run); wrong outcome {self.wrong_outcome}, "
            f"executed twice {self.duplicates}; {self.retransmissions} retransmissions, "
            f"{self.stage_retries} stages sent again, {self.reconnections} reconnections, "
            f"{self.sessions_reopened} sessions opened again by the campaign; "
            f"{self.wall_seconds:.1f} s"
        )

    def as_campaign(self) -> dict[str, float]:
        return {
            "noisy_link_commands": self.commands,
            "noisy_link_done": self.done,
            "noisy_link_not_done": self.not_done,
            "noisy_link_unknown": self.unknown,
            "noisy_link_refused_by_state": self.refused_by_state,
            # The library's unknown outcomes: the campaign reads the pump after each, but a
            # user would have had to interrogate it.
            "noisy_link_unresolved": self.unknown,
            "noisy_link_wrong_outcome": self.wrong_outcome,
            "noisy_link_duplicates": self.duplicates,
        }


def campaign(quick: bool) -> dict[str, float]:
    """``make faults`` (10,000 commits in parallel pairs) or its short version for the tests."""
    return (quick_run() if quick else run(FULL_COMMANDS, pairs=PAIRS)).as_campaign()


def quick_run() -> NoisyFigures:
    """The short version (``make test``): its figures, for the tests to look further."""
    return run(QUICK_COMMANDS, pairs=1)


def run(
    commands: int = 1_000,
    seed: int = DEFAULT_SEED,
    *,
    pairs: int = PAIRS,
    timeout_s: float = TIMEOUT_S,
    budget_s: float = BUDGET_S,
) -> NoisyFigures:
    """``commands`` shared among ``pairs`` emulator and programmer pairs (processes), or as
    many as ``budget_s`` allows (``commands`` in the figures says how many)."""
    started = time.perf_counter()
    pairs = max(1, min(pairs, commands))
    shares = [commands // pairs + (i < commands % pairs) for i in range(pairs)]
    if pairs == 1:
        results = [run_pair(commands, seed, timeout_s, budget_s)]
    else:
        rounds = [
            [str(share), str(seed + i), str(timeout_s), str(budget_s)]
            for i, share in enumerate(shares)
        ]
        plain = run_workers("faults.control_faults", rounds, pairs)
        results = [NoisyFigures(**figures) for figures in plain]
    figures = NoisyFigures(seed, pairs=pairs)
    for result in results:
        figures.add(result)
    figures.wall_seconds = time.perf_counter() - started
    return figures


def run_pair(
    commands: int, seed: int, timeout_s: float = TIMEOUT_S, budget_s: float = BUDGET_S
) -> NoisyFigures:
    """One emulator, one programmer, ``commands`` commits through the emulator's faults
    (fewer if ``budget_s`` runs out first)."""
    started = time.perf_counter()
    deadline = started + budget_s
    figures = NoisyFigures(seed)
    with rigged_emulator() as rigged:
        emulator, rig = rigged.emulator, rigged.rig
        log = PumpLog(rig)
        # The fault stage draws fresh seeds at each setting from one generator: the
        # campaign's seed says how many settings come before the one that counts.
        for _ in range(1 + seed % 1_000):
            rig.call("faults", both={"flip": RATE, "drop": RATE, "duplicate": RATE})
        sent: list[Outgoing] = []
        programmer = open_through(
            emulator.port, emulator, timeout_s, operator="control-faults", attempts=50
        )
        programmer.link.on_changing_request = sent.append
        assert emulator.key_file is not None
        keeper = SessionKeeper.from_key_file(programmer, emulator.key_file)
        outcomes: list[tuple[str, Reason | None, list[str]]] = []
        try:
            current = _read_prescription(keeper)
            held = _dose_of(current)
            for n in range(commands):
                if time.perf_counter() > deadline:
                    break
                target = DOSES[1] if held == DOSES[0] else DOSES[0]
                before = len(sent)
                outcome, reason = _commit_once(keeper, current, target, figures)
                names = [request_id(o.session_id, o.counter) for o in sent[before:]]
                outcomes.append((outcome, reason, names))
                if outcome == "done":
                    held = target
                elif outcome == "unknown":  # what the pump holds decides the next one
                    held = _dose_of(_read_prescription(keeper))
                if (n + 1) % LOG_EVERY == 0:
                    log.read()
            figures.retransmissions = programmer.link.retransmissions
            figures.reconnections = programmer.link.reconnections
            figures.sessions_reopened = keeper.reopened
        finally:
            programmer.close()
        log.read()
    for outcome, reason, names in outcomes:
        executed = sum(log.executions.get(name, 0) for name in names)
        _tally(figures, outcome, reason, executed, sum(log.handled.get(n, 0) for n in names))
    figures.wall_seconds = time.perf_counter() - started
    return figures


class PumpLog:
    """The pump's clinical records, read over the control channel as they come."""

    def __init__(self, rig: ControlClient) -> None:
        self.rig = rig
        self.next_index = 0
        self.executions: dict[str, int] = {}
        self.handled: dict[str, int] = {}  # executions and refusals: more than 1 is a duplicate
        self._records: list[tuple[str, object]] = []

    def read(self) -> None:
        log = self.rig.call("snapshot")["pump"]["log"]
        held: list[Any] = log["clinical"]
        if held and held[0][0] > self.next_index:
            raise RuntimeError(f"the pump's log dropped records {self.next_index}..{held[0][0]}")
        for index, _t_us, kind, detail, *_ in held:
            if index >= self.next_index:
                self._records.append((kind, detail.get("req")))
        if held:
            self.next_index = max(self.next_index, held[-1][0] + 1)
        self.executions = count_executions(self._records)
        self.handled = count_handlings(self._records)


def _commit_once(
    keeper: SessionKeeper, current: PrescriptionReply, dose: int, figures: NoisyFigures
) -> tuple[str, Reason | None]:
    """Stage (read-only: sent again until it gets through), then one commit: its outcome."""
    programmer = keeper.programmer
    request = continuous(current, dose)
    for _ in range(STAGE_TRIES):
        keeper.ensure()
        try:
            staged = programmer.stage(request)
            break
        except ProgrammerError:
            figures.stage_retries += 1
    else:
        raise RuntimeError(f"could not stage a prescription {STAGE_TRIES} times in a row")
    try:
        programmer.commit(staged)
    except DeviceRefused as refusal:
        return "not done", refusal.reason
    except NotExecuted:
        return "not done", None
    except (OutcomeUnknown, ProgrammerError):  # a port that failed mid-request: unknown too
        return "unknown", None
    return "done", None


def _tally(
    figures: NoisyFigures, outcome: str, reason: Reason | None, executed: int, handled: int
) -> None:
    """One command: ``executed`` times it ran, ``handled`` times the pump acted on it (ran
    or refused it: a commit run twice is refused the second time, nothing being staged)."""
    figures.commands += 1
    figures.duplicates += max(executed, handled) > 1
    if outcome == "done":
        figures.done += 1
        figures.done_not_executed += executed == 0
    elif outcome == "not done":
        figures.not_done += 1
        figures.not_done_executed += executed > 0
        if reason is not None and Reason.VALUE_OUT_OF_RANGE <= reason < Reason.NOT_AUTHENTICATED:
            figures.refused_by_state += 1
    else:
        figures.unknown += 1
        figures.unknown_executed += executed > 0


def _read_prescription(keeper: SessionKeeper) -> PrescriptionReply:
    for _ in range(READ_TRIES):
        keeper.ensure()
        try:
            return keeper.programmer.prescription()
        except ProgrammerError:
            continue
    raise RuntimeError("could not read the prescription through the faults")


def _dose_of(reply: PrescriptionReply) -> int | None:
    if reply.mode is not Mode.CONTINUOUS or not reply.steps:
        return None
    return reply.steps[0].dose_ug_per_day


def main(argv: list[str]) -> int:
    if argv[:1] == [WORKER_FLAG]:  # one pair of ``run``, in a process of its own
        return print_figures(run_pair(int(argv[1]), int(argv[2]), float(argv[3]), float(argv[4])))
    commands = int(argv[0]) if argv else 1_000
    seed = int(argv[1]) if len(argv) > 1 else DEFAULT_SEED
    pairs = int(argv[2]) if len(argv) > 2 else PAIRS
    figures = run(commands, seed, pairs=pairs)
    print(figures.summary())
    broken = figures.broken_promises()
    for promise in broken:
        print(f"BROKEN: {promise}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
