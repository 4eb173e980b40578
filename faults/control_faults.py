"""Programming commands through line faults the emulator injects itself (its control channel).

    programmer --(pty)--> pump-emulator --control unix:...   faults: 1/300 flips, drops and
                                                              duplicates each way

The test rig turns on the link issue's noise model inside the emulator (``faults``), then
sends programming commands through the programmer library: doses alternating 200 and 210
ug/day, within the dose-change cap. Each ends done, not done or outcome unknown; the harness
resolves an unknown from the pump itself (the prescription in force) and sends again only
what was not applied, so that in the end every command is applied exactly once. Executions
are counted from the pump's own log (``req=`` on each commit), read with the faults off.

    python -m faults.control_faults [COMMANDS] [SEED]
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from faults.noisy_pty import executions_from_records, open_through
from hil_tests.emulator_process import EmulatorProcess
from programmer import Programmer, ProgrammerError
from programmer.errors import DeviceRefused, NotExecuted, OutcomeUnknown
from protocol import Mode, Outgoing
from rig_control import ControlClient

RATE = 1 / 300  # docs/protocol.md section 1: the project's noise model, each way
DOSES = (200, 210)  # ug/day, +5 %: inside the 40 % dose-change cap both ways


@dataclass
class ControlFigures:
    seed: int
    commands: int = 0
    done: int = 0
    not_done: int = 0
    unknown: int = 0
    unknown_applied: int = 0  # resolved from the pump: it had run
    resent: int = 0
    applied_twice: int = 0
    never_applied: int = 0
    retransmissions: int = 0
    reconnections: int = 0
    wall_seconds: float = 0.0
    outcomes: list[str] = field(default_factory=list)

    @property
    def reported_fraction(self) -> float:
        return (self.done + self.not_done) / max(1, self.commands)

    def broken_promises(self) -> list[str]:
        broken = []
        if self.applied_twice:
            broken.append(f"{self.applied_twice} commands applied twice")
        if self.never_applied:
            broken.append(f"{self.never_applied} commands never applied")
        if self.reported_fraction < 0.99:
            broken.append(f"only {self.reported_fraction:.1%} reported done or not done")
        return broken

    def summary(self) -> str:
        return (
            f"{self.commands} programming commands through emulator faults (seed {self.seed}): "
            f"{self.done} done, {self.not_done} not done, {self.unknown} unknown "
            f"({self.unknown_applied} of them had run); {self.resent} sent again; "
            f"applied twice {self.applied_twice}, never applied {self.never_applied}; "
            f"reported {self.reported_fraction:.2%}; {self.retransmissions} retransmissions, "
            f"{self.reconnections} reconnections; {self.wall_seconds:.1f} s"
        )


def run(commands: int = 100, seed: int = 20261123, *, timeout_s: float = 0.05) -> ControlFigures:
    started = time.perf_counter()
    figures = ControlFigures(seed)
    with tempfile.TemporaryDirectory() as tmp:
        control = f"unix:{Path(tmp) / 'control.sock'}"
        emulator = EmulatorProcess(
            Path(tmp),
            extra_args=("--speed", "0", "--telemetry-session-cost", "0s", "--control", control),
        )
        with emulator, ControlClient(control) as rig:
            rig.call("faults", both={"flip": RATE, "drop": RATE, "duplicate": RATE})
            sent: list[Outgoing] = []
            names: list[list[str]] = []
            programmer = open_through(
                emulator.port, emulator, timeout_s, operator="control-faults", attempts=50
            )
            programmer.link.on_changing_request = sent.append
            try:
                for i in range(commands):
                    dose = DOSES[i % 2]
                    before = len(sent)
                    _apply_once(programmer, dose, figures)
                    names.append([f"{o.session_id:08x}:{o.counter}" for o in sent[before:]])
                figures.retransmissions = programmer.link.retransmissions
                figures.reconnections = programmer.link.reconnections
            finally:
                programmer.close()
            rig.call("faults", off=True)
            with open_through(
                emulator.port, emulator, 1.0, operator="control-faults", attempts=50
            ) as reader:
                ran = executions_from_records(reader.log_entries())
    for request_names in names:
        commits = sum(ran.get(name, 0) for name in request_names)
        figures.applied_twice += commits > 1
        figures.never_applied += commits == 0
    figures.wall_seconds = time.perf_counter() - started
    return figures


def _apply_once(programmer: Programmer, dose: int, figures: ControlFigures) -> None:
    """One command, sent again only while the pump says it has not run."""
    figures.commands += 1
    first = True
    while True:
        try:
            programmer.set_dose(dose)
            outcome = "done"
        except (DeviceRefused, NotExecuted):
            outcome = "not done"
        except OutcomeUnknown:
            outcome = "unknown"
        except ProgrammerError:
            outcome = "not sent"
        if first:
            figures.outcomes.append(outcome)
            figures.done += outcome == "done"
            figures.not_done += outcome in ("not done", "not sent")
            figures.unknown += outcome == "unknown"
            first = False
        if outcome == "done":
            return
        if outcome == "unknown" and _dose_in_force(programmer) == dose:
            figures.unknown_applied += 1
            return
        if outcome != "unknown" and _dose_in_force(programmer) == dose:
            return  # refused because it is already so: applied by an earlier attempt
        figures.resent += 1


def _dose_in_force(programmer: Programmer) -> int | None:
    for _ in range(50):
        try:
            reply = programmer.prescription()
        except ProgrammerError:
            continue
        if reply.mode is not Mode.CONTINUOUS or not reply.steps:
            return None
        return reply.steps[0].dose_ug_per_day
    raise RuntimeError("could not read the prescription through the faults")


def main(argv: list[str]) -> int:
    commands = int(argv[0]) if argv else 1_000
    seed = int(argv[1]) if len(argv) > 1 else 20261123
    figures = run(commands, seed)
    print(figures.summary())
    broken = figures.broken_promises()
    for promise in broken:
        print(f"BROKEN: {promise}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
