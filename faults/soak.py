"""A simulated year of therapy in a couple of minutes, polled all the while, and no errors.

    poller thread --(pty, programmer library)--> pump-emulator --speed 0 --control unix:...
    main thread   --(control channel)----------/

The worked example's prescription (docs/domain.md: baclofen 500 ug/mL, continuous
200 ug/day) on the 40 mL model, so that eight weeks of it (22.4 mL, a little more with the
heat) never run the reservoir dry. The rig drives simulated time with ``advance`` in
``CHUNK`` steps, a day at a time: an hour at 40 C every day (``temperature``), and every
``REFILL_EVERY_DAYS`` a refill through the programmer library. Meanwhile a second thread polls
the pump's status through the library without pause, in one clinician session; the rig
waits for at least one poll between two steps, so every stretch of the year is polled.

Errors (``soak_errors``): a poll or refill that failed on the link, an unexpected reply, a
frame the programmer had to drop on this clean line, a refill whose outcome is unknown, and
every emulator log line at ERROR. A refill the pump refuses for its state is counted apart
(``soak_refills_refused_by_state``), not as an error. The emulator's resident memory is read
after the first month and at the end (``soak_rss_growth_mb``).

    python -m faults.soak [DAYS]
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass, field

from faults.memory import rss_mb
from faults.rigged_emulator import rigged_emulator
from programmer import (
    DeviceRefused,
    NotExecuted,
    OutcomeUnknown,
    Programmer,
    ProgrammerError,
)
from protocol import Reason, StatusReply
from rig_control import ControlClient

FULL_DAYS = 365  # 8,760 hours
QUICK_DAYS = 60  # one refill
CHUNK = "1h"
CHUNKS_PER_DAY = 24
REFILL_EVERY_DAYS = 56  # eight weeks
RESERVOIR_ML = 40
REFILL_NL = 40_000_000
CONCENTRATION_UG_PER_ML = 500
WARM_DAYS = 30
US_PER_HOUR = 3_600_000_000


@dataclass
class SoakFigures:
    days: int = 0
    hours_simulated: float = 0.0
    polls: int = 0
    refills: int = 0
    refills_done: int = 0
    refills_not_done: int = 0
    refills_unknown: int = 0
    refills_refused_by_state: int = 0
    link_failures: int = 0
    unexpected: int = 0
    dropped_frames: int = 0
    error_lines: int = 0
    rss_warm_mb: float = 0.0
    rss_end_mb: float = 0.0
    wall_seconds: float = 0.0
    states_seen: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return (
            self.link_failures
            + self.unexpected
            + self.dropped_frames
            + self.refills_unknown
            + self.refills_not_done
            + self.error_lines
        )

    @property
    def rss_growth_mb(self) -> float:
        return max(0.0, self.rss_end_mb - self.rss_warm_mb)

    def summary(self) -> str:
        return (
            f"{self.days} days ({self.hours_simulated:,.0f} h) simulated under {self.polls} "
            f"status polls; {self.refills} refills: {self.refills_done} done, "
            f"{self.refills_not_done} not done, {self.refills_unknown} unknown, "
            f"{self.refills_refused_by_state} refused for the pump's state; errors "
            f"{self.errors} (link {self.link_failures}, unexpected {self.unexpected}, dropped "
            f"frames {self.dropped_frames}, ERROR lines {self.error_lines}); emulator RSS "
            f"{self.rss_warm_mb:.1f} MB after a month, {self.rss_end_mb:.1f} MB at the end; "
            f"{self.wall_seconds:.1f} s; states seen: {', '.join(sorted(self.states_seen))}"
        )


class Poller(threading.Thread):
    """Status polls without pause; refills when asked (the library is not shared)."""

    def __init__(self, programmer: Programmer, figures: SoakFigures) -> None:
        super().__init__(daemon=True, name="soak-poller")
        self.programmer = programmer
        self.figures = figures
        self.stop = threading.Event()
        self.refill_requests: queue.Queue[None] = queue.Queue()
        self.refill_done = threading.Event()
        self.polled = threading.Condition()
        self._last: StatusReply | None = None
        self._refills_at_last = 0

    def run(self) -> None:
        figures, link = self.figures, self.programmer.link
        while not self.stop.is_set():
            if not self.refill_requests.empty():
                self.refill_requests.get()
                self._refill()
                self.refill_done.set()
            try:
                self._check(self.programmer.status())
            except ProgrammerError as exc:
                figures.link_failures += 1
                figures.problems.append(f"status: {type(exc).__name__}: {exc}")
            with self.polled:
                figures.polls += 1
                self.polled.notify_all()
            figures.dropped_frames += len(link.dropped)
            figures.problems += [f"dropped: {d}" for d in link.dropped[:3]]
            link.dropped.clear()
            link.notifications.clear()  # alarm notifications: the pump's word, kept nowhere

    def _check(self, status: StatusReply) -> None:
        """A reply that contradicts the last one is unexpected: the clock and the drug
        infused only go forward, the reservoir only goes down but at a refill."""
        figures, last = self.figures, self._last
        self._last = status
        figures.states_seen.add(f"{status.state.name} alarms={status.alarms.value:#x}")
        if last is None:
            return
        refilled = figures.refills_done > self._refills_at_last
        self._refills_at_last = figures.refills_done
        if (
            status.clock_s < last.clock_s
            or status.infused_ug < last.infused_ug
            or (status.reservoir_ul > last.reservoir_ul and not refilled)
        ):
            figures.unexpected += 1
            figures.problems.append(f"status went backwards: {last} then {status}")

    def _refill(self) -> None:
        figures = self.figures
        figures.refills += 1
        try:
            self.programmer.refill(REFILL_NL, CONCENTRATION_UG_PER_ML)
            figures.refills_done += 1
        except DeviceRefused as refusal:
            if Reason.VALUE_OUT_OF_RANGE <= refusal.reason < Reason.NOT_AUTHENTICATED:
                figures.refills_refused_by_state += 1
            else:
                figures.refills_not_done += 1
                figures.problems.append(f"refill refused: {refusal}")
        except NotExecuted as exc:
            figures.refills_not_done += 1
            figures.problems.append(f"refill not done: {exc}")
        except OutcomeUnknown as exc:
            figures.refills_unknown += 1
            figures.problems.append(f"refill outcome unknown: {exc}")
        except ProgrammerError as exc:
            figures.refills_not_done += 1
            figures.problems.append(f"refill failed: {type(exc).__name__}: {exc}")

    def wait_for_poll(self, after: int, timeout_s: float = 60.0) -> bool:
        with self.polled:
            return self.polled.wait_for(lambda: self.figures.polls > after, timeout_s)


def run(days: int = FULL_DAYS, *, budget_s: float = 600.0) -> SoakFigures:
    """``days`` simulated days, or as many as ``budget_s`` allows."""
    started = time.perf_counter()
    figures = SoakFigures()
    prescription = (
        "--reservoir-ml", str(RESERVOIR_ML),
        "--concentration-ug-per-ml", str(CONCENTRATION_UG_PER_ML),
        "--dose-ug-per-day", "200",
    )  # fmt: skip
    with rigged_emulator(*prescription) as rigged:
        emulator, rig = rigged.emulator, rigged.rig
        pid = emulator.pid
        programmer = Programmer.open(emulator.port, key_file=emulator.key_file, operator="soak")
        poller = Poller(programmer, figures)
        start_us = int(rig.state()["simulated_time_us"])
        poller.start()
        try:
            _drive(rig, poller, figures, days, pid, started + budget_s)
            end_us = int(rig.state()["simulated_time_us"])
        finally:
            poller.stop.set()
            poller.join(timeout=30)
            programmer.close()
        figures.rss_end_mb = rss_mb(pid)
        figures.hours_simulated = (end_us - start_us) / US_PER_HOUR
    figures.error_lines = len(rigged.error_lines)
    figures.problems += rigged.error_lines[:5]
    figures.wall_seconds = time.perf_counter() - started
    return figures


def _drive(
    rig: ControlClient, poller: Poller, figures: SoakFigures, days: int, pid: int, deadline: float
) -> None:
    for day in range(1, days + 1):
        if time.perf_counter() > deadline:
            figures.problems.append(f"stopped after {figures.days} days: out of time")
            break
        if day % REFILL_EVERY_DAYS == 0:
            poller.refill_done.clear()
            poller.refill_requests.put(None)
            if not poller.refill_done.wait(120):
                figures.refills_unknown += 1
                figures.problems.append(f"day {day}: the refill never returned")
                return
        rig.call("temperature", celsius=40, duration="1h")  # a hot bath, every day
        for _ in range(CHUNKS_PER_DAY):
            polls = figures.polls
            rig.advance(CHUNK)
            if not poller.wait_for_poll(polls):
                figures.link_failures += 1
                figures.problems.append(f"day {day}: no status poll came back in 60 s")
                return
        figures.days = day
        if day == WARM_DAYS:
            figures.rss_warm_mb = rss_mb(pid)
    if not figures.rss_warm_mb:
        figures.rss_warm_mb = rss_mb(pid)


def campaign(quick: bool) -> dict[str, float]:
    figures = run(QUICK_DAYS if quick else FULL_DAYS)
    print(f"  soak: {figures.summary()}", flush=True)
    for problem in figures.problems[:10]:
        print(f"  soak problem: {problem}", flush=True)
    return {
        "soak_hours_simulated": round(figures.hours_simulated, 1),
        "soak_rss_growth_mb": round(figures.rss_growth_mb, 2),
        "soak_errors": float(figures.errors),
        "soak_polls": float(figures.polls),
        "soak_refills_done": float(figures.refills_done),
        "soak_refills_not_done": float(figures.refills_not_done),
        "soak_refills_unknown": float(figures.refills_unknown),
        "soak_refills_refused_by_state": float(figures.refills_refused_by_state),
    }


def main(argv: list[str]) -> int:
    figures = run(int(argv[0]) if argv else FULL_DAYS)
    print(figures.summary())
    for problem in figures.problems:
        print(f"PROBLEM: {problem}")
    return 1 if figures.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
