"""Changing commands through a noisy line: is every outcome the truth, and nothing run twice?

The noise model (docs/protocol.md, section 1): each byte, independently in each direction,
is flipped, dropped or duplicated, each with probability 1/300, from a printed seed. The
programmer library runs unchanged; the line is a ``SimulatedLine`` on injected time (this
module) or a pty through a noisy proxy (``faults.noisy_pty``).

"Executed" is counted on the pump's side: every clinical record a request causes is stamped
with the request's name (session and counter), so the pump's own log says how many times
each command ran, whatever the programmer reported.

    python -m faults.noisy_link [COMMANDS] [SEED]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from emulator.device import EmulatedDevice, Identity
from emulator.simulated_line import ManualClock, SimulatedLine
from firmware_model import LogEntry, Pump
from programmer import (
    DeviceRefused,
    Link,
    NotExecuted,
    OutcomeUnknown,
    Programmer,
    ProgrammerError,
)
from protocol import Keyring, Outgoing, Reason, Role
from transport import LineNoise, NoiseModel

SERIAL = "EMU000001"
CLOCK_START_S = 1_795_000_000
US_PER_S = 1_000_000


@dataclass
class Figures:
    """One campaign's outcome, as the note and ``make faults`` print it."""

    seed: int
    commands: int = 0
    done: int = 0
    not_done: int = 0
    unknown: int = 0
    not_sent: int = 0  # a read-only step before the change failed: nothing was sent
    refused_by_state: int = 0  # not done, for the pump's state or limits (not the link)
    executed: int = 0
    executed_twice: int = 0
    done_not_executed: int = 0
    not_done_executed: int = 0
    unknown_executed: int = 0
    retransmissions: int = 0
    reconnections: int = 0
    link_seconds: float = 0.0
    wall_seconds: float = 0.0
    bytes_flipped: int = 0
    bytes_dropped: int = 0
    bytes_duplicated: int = 0
    outcomes: list[str] = field(default_factory=list, repr=False)

    @property
    def done_fraction(self) -> float:
        return self.done / self.commands if self.commands else 0.0

    @property
    def resolved_fraction(self) -> float:
        resolved = self.done + self.not_done + self.not_sent
        return resolved / self.commands if self.commands else 0.0

    @property
    def wrong(self) -> int:
        return self.executed_twice + self.done_not_executed + self.not_done_executed

    def broken_promises(self, min_done: float = 0.95, min_resolved: float = 0.99) -> list[str]:
        """What the issue's targets say this run got wrong; empty when they all hold."""
        broken = wrong_outcomes(self.executed_twice, self.done_not_executed, self.not_done_executed)
        if self.done_fraction < min_done:
            broken.append(f"done {self.done_fraction:.3f} < {min_done}")
        if self.resolved_fraction < min_resolved:
            broken.append(f"resolved {self.resolved_fraction:.3f} < {min_resolved}")
        if not min(self.bytes_flipped, self.bytes_dropped, self.bytes_duplicated):
            broken.append("the line was not noisy in every way")
        return broken

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {self.commands} changing commands: {self.done} done "
            f"({100 * self.done_fraction:.1f} %), {self.not_done} not done "
            f"({self.refused_by_state} by the pump's state or limits), {self.unknown} unknown, "
            f"{self.not_sent} not sent; resolved {100 * self.resolved_fraction:.1f} %; "
            f"executed twice {self.executed_twice}, reported done but not executed "
            f"{self.done_not_executed}, reported not done but executed "
            f"{self.not_done_executed}; {self.retransmissions} retransmissions, "
            f"{self.reconnections} reconnections; noise: {self.bytes_flipped} flipped, "
            f"{self.bytes_dropped} dropped, {self.bytes_duplicated} duplicated; "
            f"{self.link_seconds:.0f} s of link time in {self.wall_seconds:.1f} s"
        )

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("outcomes")
        return {**data, "done_fraction": self.done_fraction, "resolved": self.resolved_fraction}


def wrong_outcomes(
    executed_twice: int, done_not_executed: int, not_done_executed: int
) -> list[str]:
    """The promises a changing command must never break, each with how often it broke."""
    return [
        f"{value} {what}"
        for what, value in (
            ("executed more than once", executed_twice),
            ("reported done but not executed", done_not_executed),
            ("reported not done but executed", not_done_executed),
        )
        if value
    ]


# -- the commands -----------------------------------------------------------------------


@dataclass
class Mix:
    """A cycle of changing commands that keeps the pump able to act: boluses spaced by their
    duration, stop before prime, refills so it never runs dry, doses within the cap."""

    wait: Callable[[float], None]
    step: int = 0

    def commands(self) -> Iterable[tuple[str, Callable[[Programmer], object]]]:
        clock_s = CLOCK_START_S
        while True:
            self.step += 1
            dose = 200 if self.step % 2 else 220  # within the +40 % cap both ways
            clock_s += 60
            yield "bolus", lambda p: p.bolus(5, 60)  # 10 uL over a minute
            self.wait(61)
            yield "stop", lambda p: p.stop(confirm_withdrawal_risk=True)
            yield "prime", lambda p: p.prime(50_000)  # 50 uL: three minutes
            self.wait(181)
            yield "start", lambda p: p.start()
            yield "set-dose", lambda p, dose=dose: p.set_dose(dose)  # type: ignore[misc]
            yield "refill", lambda p: p.refill(20_000_000, 500)
            yield "clock", lambda p, c=clock_s: p.set_clock(c)  # type: ignore[misc]


def build_device(seed: int) -> tuple[EmulatedDevice, Keyring]:
    keys = Keyring.generate(SERIAL, random.Random(seed).randbytes)
    pump = Pump()
    pump.set_clock(CLOCK_START_S * US_PER_S)
    pump.refill(20_000_000, 500)
    pump.set_dose(200)
    device = EmulatedDevice(pump, Identity(), keys, random_bytes=random.Random(seed + 1).randbytes)
    return device, keys


def executions(log: Iterable[LogEntry]) -> dict[str, int]:
    """How many times each named request changed the pump, from the pump's own records."""
    return count_executions((entry.kind, entry.detail.get("req")) for entry in log)


def count_executions(records: Iterable[tuple[str, object]]) -> dict[str, int]:
    """From (kind, request name) pairs: one execution writes each of its kinds once, so the
    most repeated kind counts the executions. Refusals ran nothing."""
    kinds: dict[str, dict[str, int]] = {}
    for kind, request in records:
        if request is not None and kind != "refused":
            per_kind = kinds.setdefault(str(request), {})
            per_kind[kind] = per_kind.get(kind, 0) + 1
    return {request: max(per_kind.values()) for request, per_kind in kinds.items()}


def count_handlings(records: Iterable[tuple[str, object]]) -> dict[str, int]:
    """From (kind, request name) pairs: how many times the pump acted on each request, its
    executions and its refusals together. A request is acted on once: a copy is answered
    from the cache. A second time shows even where the pump's state refused it (a commit run
    again finds nothing staged), which ``count_executions`` alone would not."""
    pairs = list(records)
    handled = count_executions(pairs)
    for kind, request in pairs:
        if request is not None and kind == "refused":
            handled[str(request)] = handled.get(str(request), 0) + 1
    return handled


def tally(
    figures: Figures,
    outcome: str,
    reason: Reason | None,
    names: list[str],
    ran: dict[str, int],
) -> None:
    executed = sum(ran.get(name, 0) for name in names)
    figures.commands += 1
    figures.executed += executed
    figures.outcomes.append(outcome)
    if executed > 1:
        figures.executed_twice += 1
    if outcome == "done":
        figures.done += 1
        figures.done_not_executed += executed == 0
    elif outcome == "not done":
        figures.not_done += 1
        figures.not_done_executed += executed > 0
        if reason is not None and reason.value >= Reason.VALUE_OUT_OF_RANGE:
            figures.refused_by_state += reason < Reason.NOT_AUTHENTICATED
    elif outcome == "not sent":
        figures.not_sent += 1
        figures.not_done_executed += executed > 0
    else:
        figures.unknown += 1
        figures.unknown_executed += executed > 0


def run_command(
    programmer: Programmer, action: Callable[[Programmer], object]
) -> tuple[str, Reason | None]:
    try:
        action(programmer)
    except DeviceRefused as refusal:
        return "not done", refusal.reason
    except NotExecuted:
        return "not done", None
    except OutcomeUnknown:
        return "unknown", None
    except ProgrammerError:
        return "not sent", None
    return "done", None


def run_sans_io(
    commands: int = 1_000,
    seed: int = 20261123,
    *,
    noise: NoiseModel | None = None,
    timeout_s: float = 0.02,
    budget_s: float = 10.0,
    pump_read_interval_s: float = 0.005,
) -> Figures:
    """The campaign through a ``SimulatedLine``: deterministic for a seed, milliseconds a
    command. The programmer waits ``timeout_s`` per attempt (20 ms: a pump that reads its
    UART every 5 ms answers well within it)."""
    started = time.perf_counter()
    model = NoiseModel() if noise is None else noise
    device, keys = build_device(seed)
    clock = ManualClock()
    up, down = LineNoise(model, seed + 2), LineNoise(model, seed + 3)
    line = SimulatedLine(device, clock, up, down, pump_read_interval_s=pump_read_interval_s)
    sent: list[Outgoing] = []
    link = Link(
        line,
        timeout_s=timeout_s,
        retries=20,
        budget_s=budget_s,
        clock=clock,
        sleep=clock.sleep,
        random_bytes=random.Random(seed + 4).randbytes,
        on_changing_request=sent.append,
    )
    programmer = Programmer(link, "noisy-campaign")
    figures = Figures(seed)
    _open(programmer, keys)
    mix = Mix(clock.advance)
    names: list[list[str]] = []
    pending: list[tuple[str, Reason | None]] = []
    for _name, action in mix.commands():
        if len(pending) >= commands:
            break
        before = len(sent)
        if link.connection.session_role is None:
            _open(programmer, keys)
        pending.append(run_command(programmer, action))
        names.append([f"{o.session_id:08x}:{o.counter}" for o in sent[before:]])
    ran = executions(device.pump.log)
    for (outcome, reason), request_names in zip(pending, names, strict=True):
        tally(figures, outcome, reason, request_names, ran)
    figures.retransmissions = link.retransmissions
    figures.reconnections = link.reconnections
    figures.link_seconds = clock.now_s
    figures.wall_seconds = time.perf_counter() - started
    for noise_side in (up, down):
        figures.bytes_flipped += noise_side.counts.flipped
        figures.bytes_dropped += noise_side.counts.dropped
        figures.bytes_duplicated += noise_side.counts.duplicated
    return figures


def _open(programmer: Programmer, keys: Keyring) -> None:
    for _ in range(20):
        try:
            if programmer.identity is None:
                programmer.hello()
            programmer.open_session(Role.CLINICIAN, keys)
            return
        except ProgrammerError:
            continue
    raise RuntimeError("could not open a session through the noisy line")


def campaign_main(run: Callable[[int, int], Figures], default_commands: int) -> int:
    """``python -m faults.X [COMMANDS] [SEED]``: print the figures; exit 1 if any is wrong."""
    args = sys.argv[1:]
    commands = int(args[0]) if args else default_commands
    seed = int(args[1]) if len(args) > 1 else 20261123
    figures = run(commands, seed)
    print(figures.summary())
    broken = figures.broken_promises()
    for line in broken:
        print(f"broken: {line}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(campaign_main(run_sans_io, 1_000))
