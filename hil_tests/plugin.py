"""pytest plugin: a ``pump`` fixture connected to an emulator on a pty, or to real hardware.

By default the plugin starts ``pump-emulator --pty`` once per session (once per pytest-xdist
worker), with fresh random keys and a control channel. ``--device-url URL`` (or
``$PUMP_DEVICE_URL``) points the very same tests at another device, a USB-serial dongle on real
hardware for instance, and starts nothing; its keys come from ``--device-key-file`` (or
``$PUMP_KEY_FILE``, or the default key location for its serial). Options: hil_tests/options.py.

What the plugin does around the tests, each in its own module:

- what is hardware (device.py): a device is an emulator when the plugin started it or
  ``--emulator-control`` reaches it; anything else is hardware;
- fail fast (health.py): before any test, the device is opened, greeted and a session opened;
  if it cannot be, the run stops with one line;
- one device, one user (device_lock.py): the run holds a lock per device; a second run on it
  is refused, naming the holder;
- as found (as_found.py): the therapy found at the start is put back and verified after each
  ``changes_therapy`` test and at the end; the summary says what the run changed for good;
- records (records.py, its own plugin): the run's JSON record, link logs, JUnit properties.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Generator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hil_tests import device_rules
from hil_tests.as_found import (
    Footprint,
    changed_for_good,
    read_footprint,
    read_therapy,
)
from hil_tests.device import DeviceUnderTest
from hil_tests.device_lock import DeviceBusy, DeviceLock
from hil_tests.emulator_process import EmulatorProcess, EmulatorStartError
from hil_tests.health import EXIT_REFUSED, EXIT_UNUSABLE, DeviceUnusable, check_device
from hil_tests.ini import ini_is_set
from hil_tests.link_log import LinkLog
from hil_tests.options import (
    CONTROL_ENV,
    DESTRUCTIVE_ENV,
    KEY_ENV,
    URL_ENV,
    RunOptions,
    add_options,
    worker_index,
    xdist_workers,
)
from hil_tests.records import RunRecorder, record_of, run_of
from hil_tests.timing import reply_timeout_s
from programmer import Programmer, ProgrammerError
from programmer.capture_file import CaptureFile
from protocol import HelloReply, Role
from rig_control import ControlClient, ControlError, ControlUnavailable

__all__ = [
    "CONTROL_ENV",
    "DESTRUCTIVE_ENV",
    "KEY_ENV",
    "MARKERS",
    "URL_ENV",
    "DeviceUnderTest",
]

MARKERS = {
    "emulator_only": "needs the emulator (skipped on hardware)",
    "needs_control": "needs the emulator's control channel (--emulator-control, or the "
    "plugin's own emulator); skipped where there is none",
    "changes_therapy": "changes the prescription or whether the pump infuses; the plugin "
    "restores and verifies it (on hardware only with --allow-therapy-changes SERIAL)",
    "destructive": "changes what the wire cannot undo (drug delivered, refills, the clock, "
    "time): needs a control channel to snapshot and restore, or --allow-destructive on an "
    "emulator the run may spoil; never on hardware",
    "provokes(*codes)": "the reason codes (names) this test must receive on the wire "
    "(docs/hil.md, conformance)",
}
LINK_LOG = pytest.StashKey[LinkLog]()
LOCKS = pytest.StashKey[list[DeviceLock]]()
CHECKED = pytest.StashKey[dict[str, HelloReply]]()  # URL: its HELLO, checked before the tests
TIMEOUT_SET = pytest.StashKey[bool]()
SERVED = pytest.StashKey[DeviceUnderTest]()  # the device this process tests, once greeted
SINCE_CHECK = pytest.StashKey[list[str]]()  # device tests since the therapy was last checked
LEAKS = pytest.StashKey[list[str]]()  # therapy found changed before a changes_therapy test
MAX_SUSPECTS = 5
# The plugin's per-test timeout where the user's configuration sets none (pytest-timeout).
DEFAULT_TEST_TIMEOUT_S = 120


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    RunOptions.of(config).check_workers(xdist_workers(config))
    config.stash[TIMEOUT_SET] = not _timeout_configured(config) and config.pluginmanager.hasplugin(
        "timeout"
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    options = RunOptions.of(config)
    if options.devices:
        devices = ", ".join(
            spec.url + (f" (control {spec.control})" if spec.control else " (hardware)")
            for spec in options.devices
        )
        lines = [f"pump device: {devices}"]
    else:
        lines = ["pump device: the plugin's emulator on a new pty (one per session or worker)"]
    timeout_s = options.timeout_override_s or reply_timeout_s(options.baudrate)
    lines.append(
        f"pump: role {options.role.label}, {options.baudrate} baud, replies within "
        f"{timeout_s:g} s; therapy changes on hardware: "
        f"{', '.join(sorted(options.therapy_serials)) or 'none'}; snapshots "
        f"{'off' if options.no_snapshot else 'on'}"
    )
    if config.stash.get(TIMEOUT_SET, False):
        lines.append(
            f"pump: per-test timeout {DEFAULT_TEST_TIMEOUT_S} s (signal) set by the pump plugin "
            "for device tests: the configuration sets none"
        )
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    """Fail fast: hold and check every device given before any test (in the xdist controller,
    once). The plugin's own emulators are checked as they start."""
    config = session.config
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    options = RunOptions.of(config)
    locks = config.stash.setdefault(LOCKS, [])
    for spec in options.devices[: max(1, xdist_workers(config))]:
        lock = DeviceLock(spec.url)
        try:
            lock.acquire()
        except DeviceBusy as exc:
            pytest.exit(str(exc), returncode=EXIT_REFUSED)
        locks.append(lock)
        try:
            hello = check_device(
                spec.url,
                baudrate=options.baudrate,
                timeout_s=options.timeout_override_s or reply_timeout_s(options.baudrate),
                key_file=spec.key_file,
                role=options.role,
                control=spec.control,
            )
        except DeviceUnusable as exc:
            pytest.exit(str(exc), returncode=exc.exit_code)
        _check_serial(options, spec.url, hello.serial_number)
        config.stash.setdefault(CHECKED, {})[spec.url] = hello


def pytest_unconfigure(config: pytest.Config) -> None:
    for lock in config.stash.get(LOCKS, []):
        lock.release()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.stash.get(TIMEOUT_SET, False):
        return
    for item in items:
        if "device" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT_S, method="signal"))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = _run(config)
    devices = run.devices if run is not None else []
    if not devices:
        return
    terminalreporter.section("pump: the device as found, and what the run changed for good")
    for device in devices:
        name = f"{device.get('serial') or '?'} at {device.get('url')} ({device.get('worker')})"
        terminalreporter.write_line(f"{name}: {device.get('at_end', 'not checked')}")
        for line in device.get("found_changed") or []:
            terminalreporter.write_line(f"  {line}")
        for line in device.get("changed_for_good") or ["nothing the wire cannot undo"]:
            terminalreporter.write_line(f"  {line}")


# -- the device --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def device(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeviceUnderTest]:
    config = request.config
    options = RunOptions.of(config)
    index, worker = worker_index(config)
    spec = options.device_for(index)
    timeout_s = options.timeout_override_s or reply_timeout_s(options.baudrate)
    if spec is not None:
        yield from _serving(
            config,
            DeviceUnderTest(
                spec.url,
                spec.control is not None,
                options.baudrate,
                timeout_s,
                spec.key_file,
                None,
                spec.control,
                role=options.role,
                worker=worker,
            ),
        )
        return
    workdir = Path(tmp_path_factory.mktemp("emulator"))
    # A unix socket's path must be short (108 bytes): not under pytest's deep temporary tree.
    socket_dir = Path(tempfile.mkdtemp(prefix="pump-hil-"))
    control = f"unix:{socket_dir / 'control.sock'}"
    emulator = EmulatorProcess(workdir, extra_args=("--control", control))
    try:
        emulator.start()
    except EmulatorStartError as exc:
        shutil.rmtree(socket_dir, ignore_errors=True)
        last = (emulator.log_tail(1) or str(exc)).strip()
        pytest.exit(
            f"the pump plugin's emulator did not start: {last} (log {emulator.log_path})",
            returncode=EXIT_UNUSABLE,
        )
    try:
        yield from _serving(
            config,
            DeviceUnderTest(
                emulator.port,
                True,
                options.baudrate,
                timeout_s,
                emulator.key_file,
                emulator,
                control,
                role=options.role,
                worker=worker,
            ),
        )
    finally:
        emulator.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)


def _serving(config: pytest.Config, device: DeviceUnderTest) -> Iterator[DeviceUnderTest]:
    """Greet the device, read what it is doing, hand it to the tests; at the end put its
    therapy back if a test left it changed, and record what the run changed for good."""
    options = RunOptions.of(config)
    checked = config.stash.get(CHECKED, {}).get(device.url)
    try:
        hello = checked or check_device(
            device.url,
            baudrate=device.baudrate,
            timeout_s=device.reply_timeout_s,
            key_file=device.key_file,
            role=device.role,
            control=device.control,
        )
    except DeviceUnusable as exc:
        pytest.exit(str(exc), returncode=exc.exit_code)
    _check_serial(options, device.url, hello.serial_number)
    device = replace(device, identity=hello)
    start: Footprint | None = None
    if device.grants(Role.CLINICIAN) or device.role is Role.READ_ONLY:
        with device_rules.reader(device) as programmer:
            device = replace(device, as_found=read_therapy(programmer))
            start = read_footprint(programmer)
    config.stash[SERVED] = device
    yield device
    at_end, failure = device_rules.at_end(device, _suspects(config))
    described = device.describe()
    described["at_end"] = at_end
    described["found_changed"] = config.stash.get(LEAKS, [])
    if start is not None:
        try:
            with device_rules.reader(device) as programmer:
                end = read_footprint(programmer)
        except ProgrammerError as exc:
            described["changed_for_good"] = [f"not known: the device did not answer ({exc})"]
        else:
            described["footprint"] = {"start": start.as_json(), "end": end.as_json()}
            described["changed_for_good"] = changed_for_good(start, end)
    run = _run(config)
    if run is not None:
        run.add_device(described)
    if failure:
        pytest.fail(failure, pytrace=False)


def _check_serial(options: RunOptions, url: str, serial: str) -> None:
    if options.therapy_serials and serial not in options.therapy_serials:
        pytest.exit(
            f"pump device {url} reports serial {serial}, not "
            f"{' or '.join(sorted(options.therapy_serials))} (--allow-therapy-changes): "
            "refusing to change its therapy",
            returncode=EXIT_REFUSED,
        )


# -- what a test may do to the device ----------------------------------------------------


def _skip_if_emulator_only(request: pytest.FixtureRequest, device: DeviceUnderTest) -> None:
    if request.node.get_closest_marker("emulator_only") and not device.emulated:
        pytest.skip("needs the emulator")


REFILL_EVERY_TESTS = 25  # each test opens about one session; 100 fit in the budget's window
BUDGET_WINDOW = "31s"  # docs/protocol.md section 12: 100 key verifications in any 30 s
TESTS_RUN = pytest.StashKey[int]()


@pytest.fixture(autouse=True)
def _verification_budget(request: pytest.FixtureRequest) -> None:
    """On an emulator with a control channel, the link's clock moves past the budget's window
    every few tests: a suite that opens a session per test would otherwise meet the pump's
    back-off (at most 100 key verifications in any 30 s) and wait it out in real time. The
    back-off itself is tested on purpose, by tests that burn the budget (test_security.py)."""
    if "device" not in request.fixturenames and not request.node.get_closest_marker(
        "needs_control"
    ):
        return
    config = request.config
    count = config.stash.get(TESTS_RUN, 0) + 1
    config.stash[TESTS_RUN] = count
    if count % REFILL_EVERY_TESTS:
        return
    device: DeviceUnderTest = request.getfixturevalue("device")
    if device.control is None:
        return
    try:
        with ControlClient(device.control) as client:
            client.link_advance(BUDGET_WINDOW)
    except (ControlError, ControlUnavailable) as exc:  # a convenience, never a failure
        request.node.warn(pytest.PytestWarning(f"budget not refilled: {exc}"))


@pytest.fixture(autouse=True)
def _device_rules(request: pytest.FixtureRequest) -> Iterator[None]:
    """What a test may do to this device, decided before it touches it: skipped with the
    reason otherwise. A destructive or changes_therapy test on an emulator with a control
    channel runs between a snapshot and its restore; a changes_therapy test elsewhere has its
    therapy put back over the wire; either way the therapy is then verified as found."""
    node = request.node
    marked = {name for name in device_rules.RULED if node.get_closest_marker(name)}
    if not marked:
        yield
        return
    device: DeviceUnderTest = request.getfixturevalue("device")
    options = RunOptions.of(request.config)
    refused = device_rules.refusal(marked, device, options)
    if refused:
        pytest.skip(refused)
    therapy = "changes_therapy" in marked
    log: LinkLog | None = request.getfixturevalue("link_log") if therapy else None
    if therapy:
        _found_before(request.config, device, options, log)
    wants_snapshot = (therapy or "destructive" in marked) and device_rules.snapshots(
        options, device
    )
    snapshot = device_rules.take_snapshot(device) if wants_snapshot else None
    yield
    if snapshot is not None:
        device_rules.restore_snapshot(device, snapshot)
    if therapy:
        if log is not None:
            log.note("the pump plugin: is the therapy as found?")
        failure = device_rules.put_back(
            device, options, log.trace if log else None, restored=snapshot is not None
        )
        if failure:
            pytest.fail(failure, pytrace=False)


def _found_before(
    config: pytest.Config, device: DeviceUnderTest, options: RunOptions, log: LinkLog | None
) -> None:
    """A changes_therapy test starts from the therapy found: what an earlier test left is put
    back first, and said (a warning, the run record, the summary), naming the suspects."""
    if log is not None:
        log.note("the pump plugin: is the therapy as found before the test?")
    different, failure = device_rules.put_back_before(device, options, log.trace if log else None)
    suspects = _suspects(config)
    if failure:
        pytest.fail(f"{failure}; changed by {suspects}", pytrace=False)
    if different:
        text = (
            f"the therapy was not as found before this test ({'; '.join(different)}): put back "
            f"over the wire; changed by {suspects}"
        )
        config.stash.setdefault(LEAKS, []).append(text)
        warnings.warn(pytest.PytestWarning(text), stacklevel=1)


def _suspects(config: pytest.Config) -> str:
    """The device tests run since the therapy was last seen as found; the list starts anew."""
    since = config.stash.get(SINCE_CHECK, [])
    config.stash[SINCE_CHECK] = []
    if not since:
        return "no test since the last check (the device itself, or another programmer)"
    if len(since) <= MAX_SUSPECTS:
        named = ", ".join(since)
    else:
        named = f"{', '.join(since[:3])} ... {', '.join(since[-2:])}"
    return (
        f"one of the {len(since)} tests since the last check, not marked changes_therapy: {named}"
    )


@pytest.fixture
def rig(device: DeviceUnderTest, request: pytest.FixtureRequest) -> Iterator[ControlClient]:
    """The emulator's control channel (docs/control.md): time, environment, line faults.
    The simulated time the test moves on goes into the run record."""
    if device.control is None:
        pytest.skip("needs_control: no control channel (give --emulator-control ADDR)")
    with ControlClient(device.control) as client:
        before = _simulated_us(client)
        yield client
        after = _simulated_us(client)
    if before is not None and after is not None and after > before:
        record_of(request.node).simulated_s += (after - before) / 1e6


def _simulated_us(client: ControlClient) -> int | None:
    try:
        return int(client.state()["simulated_time_us"])
    except (ControlUnavailable, ControlError, OSError, KeyError, TypeError, ValueError):
        return None


# -- the link, its log and its capture ----------------------------------------------------


@pytest.fixture(scope="session")
def link_log_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = RunOptions.of(request.config).link_log_dir
    if configured is not None:
        return configured
    run = _run(request.config)
    if run is None:  # the records plugin is off (-p no:pump_hil_records)
        return Path(tmp_path_factory.mktemp("link-logs"))
    return run.run_dir / "link-logs"


@pytest.fixture
def link_log(request: pytest.FixtureRequest, link_log_dir: Path) -> Iterator[LinkLog]:
    """This test's record of the link (and its pcap capture with --capture-dir); the failure
    report names it, the JUnit report carries it."""
    name = _file_name(request.node.nodeid)
    capture_dir = RunOptions.of(request.config).capture_dir
    capture: CaptureFile | None = None
    log: LinkLog | None = None

    def notice(text: str) -> None:
        if log is not None:
            log.note(text)

    if capture_dir is not None:
        capture_dir.mkdir(parents=True, exist_ok=True)
        capture = CaptureFile(capture_dir / f"{name}.pcap", notice)
    log = LinkLog(link_log_dir / f"{name}.log", also=(capture.trace,) if capture else ())
    request.node.stash[LINK_LOG] = log
    record_of(request.node).link_logs.append(log)
    try:
        yield log
    finally:
        log.close()
        if capture is not None:
            capture.close()


def _file_name(nodeid: str) -> str:
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in nodeid)
    if len(name) <= 150:
        return name
    return f"{name[:130]}-{hashlib.sha256(nodeid.encode()).hexdigest()[:12]}"


def _connected(
    request: pytest.FixtureRequest,
    device: DeviceUnderTest,
    log: LinkLog,
    role: Role = Role.CLINICIAN,
    session: bool = True,
) -> Iterator[Programmer]:
    _skip_if_emulator_only(request, device)
    if session and not device.grants(role):
        pytest.skip(
            f"needs the {role.label} role; the key file grants {device.role.label} (--device-role)"
        )
    with device.programmer(role, session=session, trace=log.trace) as programmer:
        yield programmer
    if device.emulator is not None and not device.emulator.running:
        pytest.fail(f"the emulator died during the test; log {device.emulator.log_path}")


@pytest.fixture
def pump(
    device: DeviceUnderTest, request: pytest.FixtureRequest, link_log: LinkLog
) -> Iterator[Programmer]:
    """A programmer in a clinician session with the device under test."""
    yield from _connected(request, device, link_log)


@pytest.fixture
def patient(
    device: DeviceUnderTest, request: pytest.FixtureRequest, link_log: LinkLog
) -> Iterator[Programmer]:
    """A programmer in a patient session (it replaces any clinician session)."""
    yield from _connected(request, device, link_log, Role.PATIENT)


@pytest.fixture
def read_only(
    device: DeviceUnderTest, request: pytest.FixtureRequest, link_log: LinkLog
) -> Iterator[Programmer]:
    """A programmer in a read-only session."""
    yield from _connected(request, device, link_log, Role.READ_ONLY)


@pytest.fixture
def link(
    device: DeviceUnderTest, request: pytest.FixtureRequest, link_log: LinkLog
) -> Iterator[Programmer]:
    """A programmer that has only said hello: no session, for raw-frame tests."""
    yield from _connected(request, device, link_log, session=False)


# -- reports -----------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    dut = item.config.stash.get(SERVED, None)
    uses_device = "device" in getattr(item, "fixturenames", ())
    if call.when == "setup" and uses_device and not item.get_closest_marker("changes_therapy"):
        # A suspect from its setup on: the end-of-run check runs in the last one's teardown.
        item.config.stash.setdefault(SINCE_CHECK, []).append(item.nodeid)
    if call.when == "setup" and uses_device:
        record = record_of(item)  # skipped tests too: the run record lists every device test
        if dut is not None:
            item.user_properties.extend(dut.properties())
            record.device = {name.removeprefix("device_"): v for name, v in dut.properties()}
    if not report.failed:
        return report
    log = item.stash.get(LINK_LOG, None)
    if log is not None:
        report.sections.append((f"link log ({log.path})", log.tail()))
    if (
        dut is not None
        and dut.emulator is not None
        and "device" in getattr(item, "fixturenames", ())
    ):
        report.sections.append((f"emulator log ({dut.emulator.log_path})", dut.emulator.log_tail()))
    return report


def _run(config: pytest.Config) -> RunRecorder | None:
    try:
        return run_of(config)
    except KeyError:
        return None


def _timeout_configured(config: pytest.Config) -> bool:
    """Whether the user gave pytest-timeout a timeout: option, ini or environment."""
    option = (
        config.getoption("timeout", None) if config.pluginmanager.hasplugin("timeout") else None
    )
    return option is not None or ini_is_set(config, "timeout") or "PYTEST_TIMEOUT" in os.environ
