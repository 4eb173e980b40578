"""Conformance measured on the wire (docs/hil.md, "Conformance"): a pytest plugin of its own.

Each test's link log hands every byte it sees to a ``WireRecorder``, which decodes the pump's
frames afresh and keeps what really arrived: the message types, the reason codes, and whether
each refusal came signed. At the end of the run:

- a test that passed and is marked ``provokes("CODE", ...)`` but never received CODE fails the
  run, one line each: a refusal the pump never sent is a refusal nobody tested;
- a test that passed and is marked ``exchanges("TYPE", ...)`` must have received that type;
- a refusal signed where docs/protocol.md (section 8) says unsigned, or the other way round,
  or a frame-level one not numbered 0, fails the run: a programmer's trust rests on it;
- sendable codes nobody received are listed with what became of the tests meant to provoke
  them (skipped, deselected, failed), not failed: a run on hardware skips what it must.

Under pytest-xdist each worker records its own tests and hands them to the controller in its
``workeroutput``, which judges the whole run.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from hil_tests.link_log import LinkLog
from protocol import ErrorReply, Frame, FrameDecoder, MessageError, Reason, decode_message
from protocol.messages import MessageType

PROVOKES = "provokes"
EXCHANGES = "exchanges"
# docs/protocol.md, section 8, column "sent" (tests/test_hil_conformance_table.py keeps these
# in step with the document).
NEVER_SENT = frozenset({Reason.UNKNOWN_FLAGS, Reason.WRONG_DIRECTION, Reason.LOCKED_OUT})
SENDABLE = tuple(reason for reason in Reason if reason not in NEVER_SENT)
SEQ_ZERO = frozenset(
    {Reason.BAD_CRC, Reason.BAD_FRAMING, Reason.FRAME_TOO_SHORT, Reason.FRAME_TOO_LONG}
)
ALWAYS_UNSIGNED = SEQ_ZERO | {
    Reason.UNSUPPORTED_VERSION,
    Reason.BAD_LENGTH,
    Reason.NOT_AUTHENTICATED,
    Reason.UNKNOWN_SESSION,
    Reason.BAD_TAG,
    Reason.AUTH_FAILED,
    Reason.RATE_LIMITED,
    Reason.NO_KEY,
    Reason.UNKNOWN_CHALLENGE,
}
ALWAYS_SIGNED = frozenset(
    {
        Reason.WRONG_STATE,
        Reason.CONFIRMATION_REQUIRED,
        Reason.DRUG_LIMIT,
        Reason.DOSE_CHANGE_LIMIT,
        Reason.DOSE_REENTRY_REQUIRED,
        Reason.NOT_PERMITTED,
        Reason.LOCKOUT,
        Reason.DAILY_LIMIT,
        Reason.NO_DRUG,
        Reason.NO_SUCH_ALARM,
        Reason.NOTHING_STAGED,
        Reason.DIGEST_MISMATCH,
        Reason.REPLAYED,
        Reason.FORBIDDEN,
    }
)
WORKER_OUTPUT = "pump_conformance"
MARKERS = {
    "exchanges(*types)": "the message types (names) this test must receive on the wire "
    "(docs/hil.md, conformance)",
}


class WireRecorder:
    """What the pump sent during one test, decoded from the raw bytes of both directions."""

    def __init__(self) -> None:
        self._decoders = {"tx": FrameDecoder(), "rx": FrameDecoder()}
        self.sent: set[str] = set()  # request types that went out (well-formed ones)
        self.reasons: set[str] = set()
        self.types: set[str] = set()  # what the pump sent: replies, notifications, ERROR
        self.problems: list[str] = []

    def __call__(self, direction: str, data: bytes) -> None:
        decoder = self._decoders.get(direction)
        if decoder is None:
            return
        for item in decoder.feed(data):
            if not isinstance(item, Frame):
                continue  # what a test broke on purpose, or noise
            if direction == "rx" and not item.is_request:
                self._received(item)
            elif direction == "tx" and item.is_request and item.msg_type in _TYPES:
                self.sent.add(MessageType(item.msg_type).name)

    def _received(self, frame: Frame) -> None:
        try:
            message = decode_message(frame)
        except MessageError:
            return  # noise that passed the CRC, or not a pump: nothing to count
        self.types.add(MessageType(frame.msg_type).name)
        if isinstance(message, ErrorReply):
            self.reasons.add(message.reason.name)
            problem = _signing_problem(message.reason, frame)
            if problem and problem not in self.problems:
                self.problems.append(problem)


_TYPES = frozenset(int(t) for t in MessageType)
_REQUESTS = frozenset(MessageType) - {MessageType.ALARM_NOTIFICATION, MessageType.ERROR}


def _signing_problem(reason: Reason, frame: Frame) -> str | None:
    signed = frame.authenticated
    if reason in ALWAYS_UNSIGNED and signed:
        return f"received {reason.name} signed; docs/protocol.md section 8 says unsigned"
    if reason in ALWAYS_SIGNED and not signed:
        return f"received {reason.name} unsigned; docs/protocol.md section 8 says signed"
    if reason in SEQ_ZERO and frame.seq:
        return f"received {reason.name} with seq {frame.seq}; docs/protocol.md says seq 0"
    return None


@dataclass
class CaseRecord:
    """One test: what it promised, what became of it, what it received (plain data, so that
    an xdist worker can send it)."""

    nodeid: str
    provokes: list[str]
    exchanges: list[str]
    outcome: str = "not run"  # passed, failed, skipped, deselected
    why: str = ""
    recorded: bool = False  # its traffic went through a link log
    sent: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    failures: list[str]  # one line each: these fail the run
    received: set[str]
    types: set[str]
    sent: set[str]
    unreceived: list[str]  # sendable codes a test meant to provoke, not received, and why
    deselected: list[str]  # sendable codes whose tests were all deselected
    unprovoked: list[str]  # sendable codes no test of the run was meant to provoke


@dataclass
class ConformanceRun:
    """The run's records; ``verdict`` once the session is over (others may read it: the JSON
    record of a run, for instance)."""

    records: dict[str, CaseRecord] = field(default_factory=dict)
    verdict: Verdict | None = None


CONFORMANCE = pytest.StashKey[ConformanceRun]()
_RECORDER = pytest.StashKey[WireRecorder]()


def judge(records: Iterable[CaseRecord]) -> Verdict:
    """The run's verdict from its records, wherever they were made."""
    records = list(records)
    failures: list[str] = []
    received: set[str] = set()
    types: set[str] = set()
    sent: set[str] = set()
    for record in records:
        received.update(record.reasons)
        types.update(record.types)
        sent.update(record.sent)
        failures.extend(f"{record.nodeid}: {problem}" for problem in record.problems)
        if record.outcome != "passed":
            continue
        hint = "" if record.recorded else " (no link log saw its traffic)"
        failures.extend(
            f"{record.nodeid} passed without receiving {code} on the wire{hint}"
            for code in record.provokes
            if code not in record.reasons
        )
        failures.extend(
            f"{record.nodeid} passed without receiving a {name} frame{hint}"
            for name in record.exchanges
            if name not in record.types
        )
    unreceived: list[str] = []
    deselected: list[str] = []
    unprovoked: list[str] = []
    for reason in SENDABLE:
        if reason.name in received:
            continue
        meant = [r for r in records if reason.name in r.provokes]
        if all(r.outcome == "deselected" for r in meant):
            (deselected if meant else unprovoked).append(reason.name)
        else:
            unreceived.append(f"{reason.name} ({'; '.join(_fate(r) for r in meant)})")
    return Verdict(failures, received, types, sent, unreceived, deselected, unprovoked)


def _fate(record: CaseRecord) -> str:
    why = f": {record.why}" if record.why else ""
    return f"{record.nodeid} {record.outcome}{why}"


# -- hooks ------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    config.stash[CONFORMANCE] = ConformanceRun()


def _marked(item: pytest.Item, name: str) -> list[str]:
    return [str(arg) for marker in item.iter_markers(name) for arg in marker.args]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test's promises, checked before anything runs (deselection comes later)."""
    sendable = {reason.name for reason in SENDABLE}
    types = {t.name for t in MessageType}
    wrong = []
    run = config.stash[CONFORMANCE]
    for item in items:
        provokes, exchanges = _marked(item, PROVOKES), _marked(item, EXCHANGES)
        wrong += [f"{item.nodeid}: provokes {c!r}" for c in provokes if c not in sendable]
        wrong += [f"{item.nodeid}: exchanges {t!r}" for t in exchanges if t not in types]
        if provokes or exchanges:
            run.records[item.nodeid] = CaseRecord(item.nodeid, provokes, exchanges)
    if wrong:
        raise pytest.UsageError(
            "markers naming no sendable reason code (docs/protocol.md section 8) or message "
            "type: " + "; ".join(wrong)
        )


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        record = item.config.stash[CONFORMANCE].records.get(item.nodeid)
        if record is not None:
            record.outcome = "deselected"


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    """A test's link log, once made, also feeds this test's recorder."""
    result = yield
    if fixturedef.argname == "link_log" and isinstance(result, LinkLog):
        recorder = request.node.stash.setdefault(_RECORDER, WireRecorder())
        result.listeners.append(recorder)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    run = item.config.stash[CONFORMANCE]
    record = run.records.get(item.nodeid)
    recorder = item.stash.get(_RECORDER, None)
    if record is None and recorder is not None:  # unmarked: its codes still count
        record = run.records[item.nodeid] = CaseRecord(item.nodeid, [], [])
    if record is None:
        return report
    if report.failed:
        record.outcome = "failed"
    elif report.skipped:
        record.outcome, record.why = "skipped", _skip_reason(report)
    elif report.when == "call":
        record.outcome = "passed"
    if report.when == "teardown" and recorder is not None:
        record.recorded = True
        record.sent = sorted(recorder.sent)
        record.reasons = sorted(recorder.reasons)
        record.types = sorted(recorder.types)
        record.problems = list(recorder.problems)
    return report


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "xfail" if hasattr(report, "wasxfail") else ""


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    run = config.stash[CONFORMANCE]
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller judges
        workeroutput[WORKER_OUTPUT] = [asdict(r) for r in run.records.values()]
        return
    if not run.records:
        return
    run.verdict = judge(run.records.values())
    if run.verdict.failures and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist, on the controller: a worker's records join the run's."""
    config: pytest.Config = node.config
    plain = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT, [])
    records = config.stash[CONFORMANCE].records
    for data in plain:  # every worker collects every test, and runs some of them
        record = CaseRecord(**data)
        known = records.get(record.nodeid)
        if known is None or _FINALITY[record.outcome] > _FINALITY[known.outcome]:
            records[record.nodeid] = record


_FINALITY = {"not run": 0, "deselected": 1, "skipped": 2, "passed": 2, "failed": 3}


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    verdict = config.stash[CONFORMANCE].verdict
    if verdict is None:
        return
    write = terminalreporter.write_line
    terminalreporter.section("pump conformance")
    sendable = {reason.name for reason in SENDABLE}
    write(
        f"reason codes received: {len(verdict.received & sendable)} of {len(sendable)} "
        f"sendable; message types received: {len(verdict.types)} of {len(MessageType)}; "
        f"requests sent: {len(verdict.sent)} of {len(_REQUESTS)} types"
    )
    for line in verdict.unreceived:
        write(f"not received: {line}")
    if verdict.deselected:
        write(f"not received, their tests deselected: {', '.join(verdict.deselected)}")
    if verdict.unprovoked:
        write(f"no test of this run provokes: {', '.join(verdict.unprovoked)}")
    missing = [t.name for t in MessageType if t.name not in verdict.types]
    if missing:
        write(f"message types not received: {', '.join(missing)}")
    for line in verdict.failures:
        write(f"FAILED conformance: {line}", red=True, bold=True)
