"""Records of a HIL run, in the manner of OpenHTF: who was tested, what each test found.

A pytest plugin of its own (entry point ``pump_hil_records``), beside the device plugin:

- one JSON record per run, ``reports/run-<id>.json``: the devices (identity, what was found,
  what the run changed for good), each test that used a device or measured something (outcome,
  named measurements with units and limits, round-trip times from its link log, simulated
  time it advanced), and the run's totals;
- the link logs beside it, ``reports/run-<id>/link-logs/``; the last ``--reports-keep`` runs
  are kept (``reports/`` is git-ignored);
- each JUnit test case that used a device carries the device's identity as properties (the
  device plugin adds them) and its link log as system-out: so ``junit_family=xunit1`` and
  ``junit_logging=system-out`` are set when the ini sets neither, and the header says so;
- the ``measure`` fixture: ``measure("delivered_volume_ul", 412.0, units="uL", low=400,
  high=420)`` records a measurement and fails the test when it is outside its limits.

Under pytest-xdist each worker attaches its records to its reports and its devices to its
``workeroutput``; the controller writes the one record.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hil_tests.ini import ini_is_set, set_ini_default
from hil_tests.link_log import LinkLog

RECORD_SCHEMA = "itb-pump-hil-run/1"
DEFAULT_KEEP = 10
LINK_LOG_SECTION = "Captured stdout link log"  # junitxml writes "Captured stdout" sections
_RUN_NAME = re.compile(r"^run-(\d{8}T\d{6}Z-\d+)(\.json)?$")
_WORKER_KEY = "pump_hil_run_id"
_DEVICES_KEY = "pump_hil_devices"
JUNIT_DEFAULTS = {"junit_family": "xunit1", "junit_logging": "system-out"}


@dataclass(frozen=True)
class Measurement:
    name: str
    value: float
    units: str | None = None
    low: float | None = None
    high: float | None = None

    @property
    def passed(self) -> bool:
        return (self.low is None or self.value >= self.low) and (
            self.high is None or self.value <= self.high
        )

    def __str__(self) -> str:
        units = f" {self.units}" if self.units else ""
        low = "" if self.low is None else f"{self.low:g}"
        high = "" if self.high is None else f"{self.high:g}"
        limits = f" (limits {low}..{high})" if self.low is not None or self.high is not None else ""
        return f"{self.name} = {self.value:g}{units}{limits}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "units": self.units,
            "low": self.low,
            "high": self.high,
            "outcome": "PASS" if self.passed else "FAIL",
        }


@dataclass
class TestRecord:
    """What one test found: filled by the fixtures while it runs."""

    measurements: list[Measurement] = field(default_factory=list)
    link_logs: list[LinkLog] = field(default_factory=list)
    device: dict[str, Any] | None = None
    simulated_s: float = 0.0

    def as_json(self, run_dir: Path) -> dict[str, Any]:
        trips = [t for log in self.link_logs for t in log.round_trips_s]
        return {
            "device_serial": (self.device or {}).get("serial"),
            "device_url": (self.device or {}).get("url"),
            "worker": (self.device or {}).get("worker"),
            "measurements": [m.as_json() for m in self.measurements],
            "round_trips_ms": _spread_ms(trips),
            "simulated_s": round(self.simulated_s, 6),
            "link_logs": [_relative(log.path, run_dir) for log in self.link_logs],
        }


RECORD = pytest.StashKey[TestRecord]()
RUN = pytest.StashKey["RunRecorder"]()


def record_of(item: pytest.Item) -> TestRecord:
    """This test's record, made on first use."""
    record = item.stash.get(RECORD, None)
    if record is None:
        record = item.stash[RECORD] = TestRecord()
    return record


class RunRecorder:
    """The run's record: its folder under ``--reports-dir`` and what the controller gathers."""

    def __init__(self, folder: Path, run_id: str, keep: int, junit_defaults: bool) -> None:
        self.folder = folder
        self.run_id = run_id
        self.keep = keep
        self.junit_defaults = junit_defaults
        self.started = datetime.now(UTC)
        self.started_s = time.monotonic()
        self.devices: list[dict[str, Any]] = []
        self.tests: dict[str, dict[str, Any]] = {}

    @property
    def run_dir(self) -> Path:
        return self.folder / f"run-{self.run_id}"

    @property
    def json_path(self) -> Path:
        return self.folder / f"run-{self.run_id}.json"

    def add_device(self, described: dict[str, Any]) -> None:
        self.devices.append(described)

    def take(self, report: pytest.TestReport) -> None:
        entry = self.tests.setdefault(report.nodeid, {"nodeid": report.nodeid, "phases": {}})
        entry["phases"][report.when] = {
            "outcome": report.outcome,
            "duration_s": round(report.duration, 6),
            **({"message": _message(report)} if not report.passed else {}),
            **({"xfail": str(report.wasxfail)} if hasattr(report, "wasxfail") else {}),
        }
        record: dict[str, Any] | None = getattr(report, "pump_record", None)
        if record is not None:
            entry.update(record)
            entry["recorded"] = True

    def as_json(self, exitstatus: int) -> dict[str, Any]:
        tests = [_finished(entry) for entry in self.tests.values() if entry.get("recorded")]
        counts: dict[str, int] = {}
        for test in tests:
            counts[test["outcome"]] = counts.get(test["outcome"], 0) + 1
        trips = [t for test in tests for t in test.get("_trips", [])]
        for test in tests:
            test.pop("_trips", None)
        simulated_s = sum(test.get("simulated_s", 0.0) for test in tests)
        return {
            "schema": RECORD_SCHEMA,
            "run_id": self.run_id,
            "started_utc": self.started.isoformat(timespec="seconds"),
            "ended_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - self.started_s, 3),
            "outcome": "PASS" if exitstatus == 0 else "FAIL",
            "exit_status": exitstatus,
            "command": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
            "station": os.uname().nodename,
            "devices": self.devices,
            "counts": counts,
            "simulated_days_advanced": round(simulated_s / 86_400, 6),
            "round_trips_ms": _spread_ms(trips) if trips else None,
            "tests": tests,
        }

    def write(self, exitstatus: int) -> Path | None:
        if not any(entry.get("recorded") for entry in self.tests.values()) and not self.devices:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.json_path
        text = json.dumps(self.as_json(exitstatus), indent=2)
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(text + "\n", encoding="utf-8")
        temporary.replace(path)
        return path

    def prune(self) -> list[str]:
        """Remove all but the last ``keep`` runs (0 keeps all); returns the run ids removed."""
        if self.keep <= 0 or not self.folder.is_dir():
            return []
        runs: dict[str, list[Path]] = {}
        for entry in self.folder.iterdir():
            match = _RUN_NAME.match(entry.name)
            if match:
                runs.setdefault(match.group(1), []).append(entry)
        ordered = sorted(runs)
        removed = ordered[: max(0, len(ordered) - self.keep)]
        for run_id in removed:
            for entry in runs[run_id]:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        return removed


def run_of(config: pytest.Config) -> RunRecorder:
    return config.stash[RUN]


class _RunHooks:
    """The run's hooks that need no item: registered with the recorder they fill."""

    def __init__(self, config: pytest.Config, run: RunRecorder) -> None:
        self.config = config
        self.run = run
        self.written: Path | None = None
        self.worker = hasattr(config, "workerinput")

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: every worker writes its link logs into this run's folder."""
        node.workerinput[_WORKER_KEY] = self.run.run_id

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self.worker:
            self.run.take(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        devices = getattr(node, "workeroutput", {}).get(_DEVICES_KEY)
        if devices:
            self.run.devices.extend(json.loads(devices))

    @pytest.hookimpl(trylast=True)  # after the session's fixtures are torn down
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_DEVICES_KEY] = json.dumps(self.run.devices)
            return
        self.written = self.run.write(int(exitstatus))
        self.run.prune()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.written is not None:
            terminalreporter.write_line(f"pump run record: {self.written}")


class Measure:
    """The ``measure`` fixture: a named value with units and limits, kept in the run record."""

    def __init__(self, record: TestRecord) -> None:
        self._record = record

    def __call__(
        self,
        name: str,
        value: float,
        *,
        units: str | None = None,
        low: float | None = None,
        high: float | None = None,
    ) -> Measurement:
        measurement = Measurement(name, float(value), units, low, high)
        self._record.measurements.append(measurement)
        if not measurement.passed:
            raise AssertionError(f"measurement out of limits: {measurement}")
        return measurement


# -- the plugin --------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pump")
    group.addoption(
        "--reports-dir",
        type=Path,
        metavar="DIR",
        help="where run records and link logs go (default: reports/ beside the ini file, "
        "else in the current folder)",
    )
    group.addoption(
        "--reports-keep",
        type=int,
        default=DEFAULT_KEEP,
        metavar="N",
        help=f"keep the last N runs in the reports folder (default {DEFAULT_KEEP}; 0 keeps all)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Before junitxml reads its ini values: set them when the user's ini sets neither."""
    defaults = not any(ini_is_set(config, name) for name in JUNIT_DEFAULTS)
    if defaults:
        for name, value in JUNIT_DEFAULTS.items():
            set_ini_default(config, name, value)
    workerinput = getattr(config, "workerinput", None)
    run_id = (
        str(workerinput[_WORKER_KEY])
        if workerinput and _WORKER_KEY in workerinput
        else f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}"
    )
    # The rootdir where an ini file fixed it; else where pytest was started: without an ini,
    # a path given as an option's value (--device-url /dev/ttyUSB0) can make "/" the rootdir.
    base = config.rootpath if config.inipath is not None else config.invocation_params.dir
    folder: Path = config.getoption("reports_dir") or base / "reports"
    keep: int = config.getoption("reports_keep")
    if keep < 0:
        raise pytest.UsageError(f"--reports-keep {keep}: give 0 (keep all) or more")
    run = config.stash[RUN] = RunRecorder(folder, run_id, keep, defaults)
    config.pluginmanager.register(_RunHooks(config, run), "pump_hil_run")


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = run_of(config)
    lines = [f"pump records: {run.json_path} (the last {run.keep or 'all'} runs kept)"]
    if run.junit_defaults:
        lines.append(
            "pump records: junit_family=xunit1, junit_logging=system-out (set by the pump "
            "plugin: the ini sets neither)"
        )
    return lines


@pytest.fixture
def measure(request: pytest.FixtureRequest) -> Measure:
    """Record a named measurement with units and limits; out of limits fails the test."""
    return Measure(record_of(request.node))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    record = item.stash.get(RECORD, None)
    if report.when != "teardown" or record is None:
        return report
    described = record.as_json(run_of(item.config).run_dir)
    described["_trips"] = [t for log in record.link_logs for t in log.round_trips_s]
    report.pump_record = described  # type: ignore[attr-defined]  # travels with xdist
    for log in record.link_logs:
        try:
            text = log.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        report.sections.append((f"{LINK_LOG_SECTION} {log.path.name}", text))
    return report


def _finished(entry: dict[str, Any]) -> dict[str, Any]:
    phases: dict[str, dict[str, Any]] = entry["phases"]
    test = {k: v for k, v in entry.items() if k not in ("phases", "recorded")}
    test["outcome"] = _outcome(phases)
    test["duration_s"] = round(sum(p["duration_s"] for p in phases.values()), 6)
    messages = [f"{when}: {p['message']}" for when, p in phases.items() if p.get("message")]
    if messages:
        test["message"] = " | ".join(messages)
    return test


def _outcome(phases: dict[str, dict[str, Any]]) -> str:
    setup, call, teardown = (phases.get(w, {}) for w in ("setup", "call", "teardown"))
    if setup.get("outcome") == "failed" or teardown.get("outcome") == "failed":
        return "error"
    for phase in (setup, call):
        if phase.get("outcome") == "skipped":
            return "xfailed" if "xfail" in phase else "skipped"
    if call.get("outcome") == "failed":
        return "failed"
    if "xfail" in call:
        return "xpassed"
    return "passed" if call else "not run"


def _message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)[:500]
    return str(longrepr)[:500] if longrepr else ""


def _spread_ms(trips_s: list[float]) -> dict[str, Any]:
    if not trips_s:
        return {"count": 0}
    ordered = sorted(trips_s)
    return {
        "count": len(ordered),
        "min": round(ordered[0] * 1000, 3),
        "median": round(statistics.median(ordered) * 1000, 3),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 3),
        "max": round(ordered[-1] * 1000, 3),
    }


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
