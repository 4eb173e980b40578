"""``pump-programmer watch``: one session, held open, reporting what changes until Ctrl-C.

A watcher only looks, so it opens its session in the least privileged role its key file
holds, and it never fights a clinician for the pump: the pump holds one session at a time,
and when another programmer's session replaces ours (an unsigned ``UNKNOWN_SESSION``, a
signed frame of another session heard on the line, a TCP connection the emulator closed for
a newer one, a local port that another program holds locked, or one that fails because
another program reads it too and opens again at once) the watcher says so, lets go of the
port, and waits, at least 30 s and longer each time it is replaced again, or until Enter,
before it opens a session again. Only a port failure (the port cannot be opened: a dongle
pulled out) is retried at once. A local port is locked while the watcher holds it (the
transport's rule: two programs on one serial line garble each other), so a clinician stops
the watcher to program through the same port.

Between status polls the watcher listens for the pump's signed alarm notifications, so an
alarm is shown as it is raised. Every time, sleep and Enter are injected: the tests drive it
through a simulated line without waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import select
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from programmer.client import Programmer
from programmer.errors import DeviceRefused, KeyProblem, LinkError, PortError
from programmer.formatting import alarm_names, plain
from programmer.keys import key_source, load_keyring
from programmer.link import Notice, SessionLost, Trace
from programmer.screens import state_name, utc
from protocol import AlarmNotification, Keyring, NotificationReceived, Reason, Role, StatusReply
from transport import PortOpenError, open_port

DEFAULT_INTERVAL_S = 2.0
MIN_INTERVAL_S = 0.5
REPLACED_WAIT_S = 30.0  # the least a watcher steps aside for another programmer
MAX_REPLACED_WAIT_S = 480.0  # doubling while it keeps being replaced, up to this
PORT_BACKOFF_S = (0.0, 1.0, 2.0, 5.0, 10.0)  # at once, then modestly slower
ROLE_PREFERENCE = (Role.READ_ONLY, Role.PATIENT, Role.CLINICIAN)  # least privileged first
PEER_CLOSES = ("socket://", "rfc2217://")  # a closed connection here is a replaced session
UL_PER_ML = 1_000
_IN_USE = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY})

WATCH_HELP = (
    "It opens one session in the least privileged role the key file holds (read-only, else "
    "patient, else clinician; --role read-only or patient chooses), polls the status every "
    "--interval-s and prints a line when something clinically relevant changes: the state, "
    "the delivery mode, the dose, the drug concentration, the active or silenced alarms, a "
    "patient bolus starting or ending, or the reservoir crossing a whole mL (and the whole "
    "status after each session opens). Every alarm notification is printed as the pump sends "
    "it, with the pump's time (UTC). Lines start with this computer's time (UTC); --json "
    'prints one object per line, with "event": watching, status, alarm, no_reply, replying, '
    "session_replaced, port_failed, reconnected or stopped. When another programmer takes "
    "the pump (its session replaces ours; for socket:// the connection is closed at the "
    "pump's end; a local port another program holds, or reads too) it says so and waits 30 s, "
    "doubling while it keeps being replaced (at most 8 min), or until Enter on a terminal, "
    "before opening a session again: it never fights a clinician for the pump. After a port "
    "failure (the port cannot be opened) it reconnects at once, then every 1, 2, 5, 10 s. "
    "Ctrl-C closes the session, prints a summary and exits 0. A local port (a pty, "
    "/dev/ttyUSB0) is held exclusively while watching: stop watch before programming "
    "through it; over the emulator's --listen, a new connection takes the pump from it."
)


@dataclass(frozen=True)
class WatchEvent:
    """One thing a watcher reports: its name, its data (JSON) and its line of text."""

    kind: str
    data: dict[str, Any]
    text: str


@dataclass
class Session:
    """An open session a watcher holds."""

    programmer: Programmer
    role: Role
    idle_timeout_s: float


class PortBusy(PortError):
    """Another program holds the port (its lock): another programmer, most likely."""


Connect = Callable[[], Session]  # open the port, greet the pump, open a session
ProbePort = Callable[[], None]  # open the port and close it: PortBusy, PortError if it cannot


class Lost(Enum):
    SESSION = "session"  # the pump, or the line, says another programmer has the pump
    LINE = "line"  # reading or writing the port failed


@dataclass
class Counts:
    status_changes: int = 0
    alarms: int = 0
    sessions_replaced: int = 0
    port_failures: int = 0


def _sleep_through(wait_s: float) -> bool:
    time.sleep(wait_s)
    return False


@dataclass
class Watcher:
    connect: Connect
    emit: Callable[[WatchEvent], None]
    interval_s: float = DEFAULT_INTERVAL_S
    peer_closes: bool = False  # a failing port means the far end closed it for a newer session
    probe_port: ProbePort | None = None  # None: a failing port is always a port failure
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    wait_or_enter: Callable[[float], bool] = _sleep_through
    counts: Counts = field(default_factory=Counts)
    _replaced_in_a_row: int = 0

    def run(self) -> int:
        """Watch until Ctrl-C (KeyboardInterrupt): then close the session and return 0.

        The first session's failures are the caller's (a wrong port or key: exit 3, 5);
        later ones are waited out or retried."""
        started_s = self.clock()
        session: Session | None = None
        try:
            session = self.connect()
            self._opened(session, "watching")
            while True:
                lost, why = self._hold(session)
                _drop(session)
                session = None
                if lost is Lost.LINE:
                    lost, why = self._why_the_line_failed(why)
                if lost is Lost.SESSION:
                    self._replaced(why)
                    session = self._reconnect(after_wait=True)
                else:
                    self.counts.port_failures += 1
                    self._event("port_failed", {"error": why}, f"port failed: {why}; reconnecting")
                    session = self._reconnect(after_wait=False)
        except KeyboardInterrupt:
            if session is not None:
                with contextlib.suppress(KeyboardInterrupt):
                    session.programmer.close()
            self._stopped(self.clock() - started_s)
            return 0
        except BaseException:
            if session is not None:
                with contextlib.suppress(Exception):
                    session.programmer.close()
            raise

    # -- one session ---------------------------------------------------------------------

    def _hold(self, session: Session) -> tuple[Lost, str]:
        """Poll and listen until the session is lost: how, and why."""
        p = session.programmer
        interval_s = min(self.interval_s, session.idle_timeout_s / 2)
        last: StatusReply | None = None
        silent = False
        opened_s = self.clock()
        while True:
            poll_s = self.clock()
            try:
                status = p.status()
            except SessionLost:
                return Lost.SESSION, "the pump ended our session: another programmer opened one"
            except PortError as exc:
                return Lost.LINE, str(exc)
            except LinkError as exc:
                if not silent:
                    self._event("no_reply", {"error": str(exc)}, f"no reply: {exc}; still trying")
                silent = True
                status = None
            if status is not None:
                if silent:
                    self._event("replying", {}, "the pump replies again")
                    silent = False
                if self.clock() - opened_s >= self._last_wait_s():
                    self._replaced_in_a_row = 0  # held long enough: the other one is done
            self._alarms(p.link.notifications)
            p.link.notifications.clear()
            if status is not None:
                self._status(last, status)
                last = status
            while True:
                if _someone_else_talks(p):
                    return Lost.SESSION, "another programmer's session is talking on this line"
                left_s = poll_s + interval_s - self.clock()
                if left_s <= 0:
                    break
                try:
                    self._alarms(p.link.listen(left_s))
                except PortError as exc:
                    return Lost.LINE, str(exc)

    def _status(self, last: StatusReply | None, now: StatusReply) -> None:
        changed = status_changes(last, now)
        if not changed:
            return
        if last is not None:
            self.counts.status_changes += 1
        alarms = ", ".join(alarm_names(now.alarms)) or "none"
        silenced = alarm_names(now.silenced)
        if silenced:
            alarms += f" (silenced: {', '.join(silenced)})"
        bolus = (
            f"; patient bolus until {utc(now.patient_bolus_ends_s)}"
            if now.patient_bolus_ends_s
            else ""
        )
        text = (
            f"{state_name(now.state)} ({now.mode.name.lower()}), {now.dose_ug_per_day} ug/day of "
            f"{now.concentration_ug_per_ml} ug/mL; reservoir {now.reservoir_ul / UL_PER_ML:.3f} mL"
            f"; alarms: {alarms}{bolus}; pump clock {utc(now.clock_s)}"
        )
        what = "status" if last is None else "changed (" + ", ".join(changed) + ")"
        self._event("status", {"changed": changed, "status": plain(now)}, f"{what}: {text}")

    def _alarms(self, notifications: list[NotificationReceived]) -> None:
        for notification in notifications:
            note = notification.message
            if not isinstance(note, AlarmNotification):
                continue
            self.counts.alarms += 1
            name = note.alarm.name.lower()
            active = alarm_names(note.active)
            verb = "ALARM raised" if note.raised else "alarm cleared"
            self._event(
                "alarm",
                {
                    "alarm": name,
                    "raised": bool(note.raised),
                    "at_s": note.at_s,
                    "at": _iso(note.at_s),
                    "active": active,
                },
                f"{verb}: {name} at {utc(note.at_s)} (pump clock); active: "
                f"{', '.join(active) or 'none'}",
            )

    # -- losing it, and opening again ----------------------------------------------------

    def _why_the_line_failed(self, error: str) -> tuple[Lost, str]:
        """A port that failed in use: for a TCP connection, the emulator closed it for
        another programmer's; for a port that opens again at once (a pty two programs
        read, each stealing the other's bytes), another programmer is on it; else (the
        port is gone: a dongle pulled out) a port failure."""
        if self.peer_closes:
            return Lost.SESSION, f"the connection was closed at the pump's end ({error})"
        if self.probe_port is None:
            return Lost.LINE, error
        try:
            self.probe_port()
        except PortBusy as exc:
            return Lost.SESSION, f"another program holds this port ({exc})"
        except PortError:
            return Lost.LINE, error
        return Lost.SESSION, f"another program is using this port ({error})"

    def _replaced(self, why: str) -> None:
        """Say so, then leave the pump to the other programmer: the time said, or Enter."""
        self.counts.sessions_replaced += 1
        wait_s = min(REPLACED_WAIT_S * (1 << min(self._replaced_in_a_row, 8)), MAX_REPLACED_WAIT_S)
        self._event(
            "session_replaced",
            {"why": why, "wait_s": wait_s},
            f"session replaced: {why}. Waiting {wait_s:g} s (or Enter) before opening one "
            "again: the pump is theirs meanwhile",
        )
        self._replaced_in_a_row += 1
        self.wait_or_enter(wait_s)

    def _last_wait_s(self) -> float:
        if not self._replaced_in_a_row:
            return 0.0
        doubling = 1 << min(self._replaced_in_a_row - 1, 8)
        return min(REPLACED_WAIT_S * doubling, MAX_REPLACED_WAIT_S)

    def _reconnect(self, *, after_wait: bool) -> Session:
        """Open a session again. A port another program holds is left to it (as a replaced
        session is); a port that will not open is tried again at once, then every 1, 2, 5,
        10 s; a pump that does not answer is left alone for REPLACED_WAIT_S."""
        failures = 0
        while True:
            try:
                session = self.connect()
            except PortBusy as exc:  # another programmer has it: theirs, for a while longer
                self._replaced(f"another program holds the port ({exc})")
                continue
            except PortError as exc:
                if failures == 0 and after_wait:
                    self.counts.port_failures += 1
                    self._event(
                        "port_failed", {"error": str(exc)}, f"cannot reopen: {exc}; retrying"
                    )
                failures += 1
                self.sleep(PORT_BACKOFF_S[min(failures, len(PORT_BACKOFF_S) - 1)])
                continue
            except LinkError as exc:
                self._event(
                    "no_reply",
                    {"error": str(exc), "wait_s": REPLACED_WAIT_S},
                    f"no reply when reopening: {exc}; trying again in {REPLACED_WAIT_S:g} s",
                )
                self.wait_or_enter(REPLACED_WAIT_S)
                continue
            self._opened(session, "reconnected")
            return session

    def _opened(self, session: Session, kind: str) -> None:
        p = session.programmer
        serial = p.identity.serial_number if p.identity else "?"
        what = "watching" if kind == "watching" else "reconnected: watching"
        self._event(
            kind,
            {"serial_number": serial, "role": session.role.label, "interval_s": self.interval_s},
            f"{what} pump {serial} ({session.role.label} session), status every "
            f"{self.interval_s:g} s; Ctrl-C to stop",
        )

    def _stopped(self, duration_s: float) -> None:
        c = self.counts
        self._event(
            "stopped",
            {"duration_s": round(duration_s, 1), **vars(c)},
            f"stopped after {_duration(duration_s)}: {c.status_changes} status changes, "
            f"{c.alarms} alarm notifications, {c.sessions_replaced} sessions replaced, "
            f"{c.port_failures} port failures",
        )

    def _event(self, kind: str, data: dict[str, Any], text: str) -> None:
        self.emit(WatchEvent(kind, data, text))


def _someone_else_talks(p: Programmer) -> bool:
    """A signed frame of a session that is not ours: the pump holds one session at a time,
    so ours has been replaced (and on a shared line, reading on would steal their bytes)."""
    dropped = p.link.dropped
    other = any(d.reason is Reason.UNKNOWN_SESSION for d in dropped)
    dropped.clear()
    return other


def status_changes(last: StatusReply | None, now: StatusReply) -> list[str]:
    """What a clinician would want told: everything, the first time; then changes of state,
    mode, dose, drug, alarms, a patient bolus, and the reservoir crossing a whole mL."""
    if last is None:
        return ["all"]
    checks = {
        "state": (last.state, now.state),
        "mode": (last.mode, now.mode),
        "dose": (last.dose_ug_per_day, now.dose_ug_per_day),
        "concentration": (last.concentration_ug_per_ml, now.concentration_ug_per_ml),
        "alarms": (last.alarms, now.alarms),
        "silenced": (last.silenced, now.silenced),
        "patient_bolus": (last.patient_bolus_ends_s, now.patient_bolus_ends_s),
        "reservoir": (last.reservoir_ul // UL_PER_ML, now.reservoir_ul // UL_PER_ML),
    }
    return [name for name, (before, after) in checks.items() if before != after]


def least_privileged_role(requested: Role, keyring: Keyring, source: str) -> Role:
    """The role to watch in: ``requested`` when it is below clinician, else the least
    privileged role the key file holds (every role may read the status)."""
    if requested is not Role.CLINICIAN:
        if requested not in keyring.keys:
            raise KeyProblem(f"{source} holds no {requested.label} key")
        return requested
    held = [role for role in ROLE_PREFERENCE if role in keyring.keys]
    if not held:
        raise KeyProblem(f"{source} holds no key")
    return held[0]


def _drop(session: Session) -> None:
    """Let go of a lost session: nothing is sent (it is not ours any more)."""
    with contextlib.suppress(Exception):
        session.programmer.link.close()


def _iso(clock_s: float) -> str:
    try:
        return datetime.fromtimestamp(clock_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(clock_s)


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.0f} s"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"


# -- the command line ---------------------------------------------------------------------


def open_session(
    args: argparse.Namespace, operator: str, notice: Notice | None, trace: Trace | None = None
) -> Session:
    """Greet the pump, pick the role from its key file, open a session that is never
    reopened behind the watcher's back. A port another program holds: PortBusy."""
    try:
        programmer = _open_programmer(args, operator, notice, trace)
    except PortError as exc:
        if _busy(exc):
            raise PortBusy(str(exc)) from exc
        raise
    try:
        hello = programmer.identity
        assert hello is not None
        keyring = load_keyring(hello.serial_number, args.key_file)
        source = key_source(hello.serial_number, args.key_file)
        role = least_privileged_role(args.role, keyring, source)
        programmer.link.reopen_lost_session = False
        try:
            opened = programmer.link.open_session(
                role, keyring.keys[role], hello.serial_number, programmer.operator
            )
        except DeviceRefused as refusal:
            if refusal.reason is not Reason.AUTH_FAILED:
                raise
            raise KeyProblem(
                f"the pump refused the {role.label} key of {source}: not this pump's key "
                f"({refusal.message})"
            ) from None
    except BaseException:
        programmer.link.close()
        raise
    return Session(programmer, role, float(opened.idle_timeout_s))


def _open_programmer(
    args: argparse.Namespace, operator: str, notice: Notice | None, trace: Trace | None
) -> Programmer:
    return Programmer.open(
        args.port,
        session=False,
        key_file=args.key_file,
        baudrate=args.baud,
        timeout_s=args.timeout,
        retries=args.retries,
        budget_s=args.budget_s,
        operator=operator,
        trace=trace,
        notice=notice,
    )


def _busy(exc: BaseException) -> bool:
    """Refused because another program holds the port (its lock, or TIOCEXCL)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in _IN_USE:
            return True
        cause = cause.__cause__
    return False


def wait_or_enter(timeout_s: float) -> bool:
    """Sleep ``timeout_s``, or less if Enter is pressed on a terminal (True then). What was
    typed before the wait began does not count."""
    stdin = sys.stdin
    if not stdin.isatty():
        time.sleep(timeout_s)
        return False
    with contextlib.suppress(Exception):
        import termios

        termios.tcflush(stdin.fileno(), termios.TCIFLUSH)
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([stdin], [], [], left)
        if ready:
            if stdin.readline():
                return True
            time.sleep(max(0.0, deadline - time.monotonic()))  # end of input: no Enter
            return False
    return False


def run(
    args: argparse.Namespace,
    operator: str,
    notice: Notice,
    trace: Trace | None = None,
    out: Any = None,
) -> int:
    """``pump-programmer watch``: lines (or JSON objects) on stdout, flushed one by one;
    ``trace`` records the link (``--capture``), every session of it."""
    stream = out if out is not None else sys.stdout

    def emit(event: WatchEvent) -> None:
        now = time.time()
        if args.json:
            line = json.dumps({"event": event.kind, "time": _iso(now), **event.data})
        else:
            line = f"{_iso(now).replace('T', ' ')}  {event.text}"
        print(line, file=stream, flush=True)

    def connect() -> Session:
        return open_session(args, operator, notice, trace)

    def probe_port() -> None:
        try:
            open_port(args.port, baudrate=args.baud).close()
        except PortOpenError as exc:
            raise (PortBusy if _busy(exc) else PortError)(str(exc)) from exc

    watcher = Watcher(
        connect,
        emit,
        interval_s=args.interval_s,
        peer_closes=str(args.port).startswith(PEER_CLOSES),
        probe_port=probe_port,
        wait_or_enter=wait_or_enter,
    )
    return watcher.run()


__all__ = [
    "DEFAULT_INTERVAL_S",
    "MIN_INTERVAL_S",
    "WATCH_HELP",
    "Session",
    "WatchEvent",
    "Watcher",
    "least_privileged_role",
    "open_session",
    "run",
    "status_changes",
    "wait_or_enter",
]
