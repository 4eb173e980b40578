"""pytest plugin: a ``pump`` fixture connected to an emulator on a pty, or to real hardware.

By default the plugin starts ``pump-emulator --pty`` once per session, with fresh random keys.
``--device-url URL`` (or ``$PUMP_DEVICE_URL``) points the very same tests at another device,
a USB-serial dongle on real hardware for instance, and starts nothing; its keys come from
``--device-key-file`` (or ``$PUMP_KEY_FILE``, or the default key location for its serial).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil_tests.emulator_process import EmulatorProcess
from hil_tests.labgrid_support import labgrid_device_url
from hil_tests.link_log import LinkLog
from programmer import Programmer
from programmer.link import Trace
from protocol import Role
from rig_control import ControlClient

URL_ENV = "PUMP_DEVICE_URL"
CONTROL_ENV = "PUMP_EMULATOR_CONTROL"
DESTRUCTIVE_ENV = "PUMP_ALLOW_DESTRUCTIVE"
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
KEY_ENV = "PUMP_KEY_FILE"
# Generous: a reply takes under a millisecond, but a loaded 2-core CI machine can stall.
DEFAULT_REPLY_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class DeviceUnderTest:
    url: str
    emulated: bool
    baudrate: int
    reply_timeout_s: float
    key_file: Path | None
    emulator: EmulatorProcess | None = None
    control: str | None = None  # the emulator's control channel (docs/control.md), if any

    def programmer(
        self, role: Role = Role.CLINICIAN, *, session: bool = True, trace: Trace | None = None
    ) -> Programmer:
        return Programmer.open(
            self.url,
            role=role,
            key_file=self.key_file,
            session=session,
            baudrate=self.baudrate,
            timeout_s=self.reply_timeout_s,
            trace=trace,
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pump", "implanted pump device under test")
    group.addoption(
        "--device-url",
        default=os.environ.get(URL_ENV),
        help=f"pyserial URL of the pump to test (default ${URL_ENV}; unset: start an emulator)",
    )
    group.addoption(
        "--device-key-file",
        type=Path,
        default=os.environ.get(KEY_ENV) or None,
        help=f"key file of the pump under test (default ${KEY_ENV}, else by its serial)",
    )
    group.addoption("--device-baud", type=int, default=115_200, help="baud rate of the device")
    group.addoption(
        "--link-log-dir",
        type=Path,
        default=None,
        help="where each test's link log goes (default: a directory under pytest's tmp path)",
    )
    group.addoption(
        "--emulator-control",
        default=os.environ.get(CONTROL_ENV) or None,
        metavar="ADDR",
        help=f"control channel of an emulator started elsewhere (default ${CONTROL_ENV}): the "
        "device is then an emulator, and needs_control and destructive tests run",
    )
    group.addoption(
        "--allow-destructive",
        action="store_true",
        default=os.environ.get(DESTRUCTIVE_ENV) == "1",
        help=f"run destructive tests on an emulator with no snapshot to undo them (default "
        f"${DESTRUCTIVE_ENV}=1); never on hardware",
    )
    group.addoption(
        "--no-snapshot",
        action="store_true",
        help="undo changes through the wire only, even where a control channel could restore "
        "a snapshot",
    )
    group.addoption(
        "--device-timeout",
        type=float,
        default=DEFAULT_REPLY_TIMEOUT_S,
        help="seconds to wait for each reply",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def pytest_report_header(config: pytest.Config) -> str:
    url = config.getoption("device_url")
    return f"pump device: {url}" if url else "pump device: emulator on a new pty (per session)"


@pytest.fixture(scope="session")
def device(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeviceUnderTest]:
    config = request.config
    url = config.getoption("device_url") or labgrid_device_url(config)
    baudrate = config.getoption("device_baud")
    timeout_s = config.getoption("device_timeout")
    if url:
        key_file = config.getoption("device_key_file")
        control = config.getoption("emulator_control")
        yield DeviceUnderTest(
            url, control is not None, baudrate, timeout_s, key_file, None, control
        )
        return
    workdir = Path(tmp_path_factory.mktemp("emulator"))
    control = f"unix:{workdir / 'control.sock'}"
    with EmulatorProcess(workdir, extra_args=("--control", control)) as emulator:
        yield DeviceUnderTest(
            emulator.port, True, baudrate, timeout_s, emulator.key_file, emulator, control
        )


def _skip_if_emulator_only(request: pytest.FixtureRequest, device: DeviceUnderTest) -> None:
    if request.node.get_closest_marker("emulator_only") and not device.emulated:
        pytest.skip("needs the emulator")


def _snapshots(config: pytest.Config, device: DeviceUnderTest) -> bool:
    return device.control is not None and not config.getoption("no_snapshot")


@pytest.fixture(autouse=True)
def _device_rules(request: pytest.FixtureRequest) -> Iterator[None]:
    """What a test may do to this device, decided before it touches it: skipped with the
    reason otherwise. A destructive test on an emulator with a control channel runs between a
    snapshot and its restore, so the next test finds the pump as this one did."""
    node = request.node
    marked = {name for name in ("needs_control", "destructive") if node.get_closest_marker(name)}
    if not marked:
        yield
        return
    device: DeviceUnderTest = request.getfixturevalue("device")
    config = request.config
    if "needs_control" in marked and device.control is None:
        pytest.skip("needs_control: no control channel (give --emulator-control ADDR)")
    if "destructive" not in marked:
        yield
        return
    if not device.emulated:
        pytest.skip("destructive: never on hardware")
    if not _snapshots(config, device) and not config.getoption("allow_destructive"):
        pytest.skip(
            "destructive: needs a control channel to snapshot and restore the emulator, or "
            "--allow-destructive"
        )
    if not _snapshots(config, device):
        yield
        return
    assert device.control is not None
    with ControlClient(device.control) as client:
        snapshot = client.snapshot()
    yield
    with ControlClient(device.control) as client:
        client.restore(snapshot)


@pytest.fixture
def rig(device: DeviceUnderTest) -> Iterator[ControlClient]:
    """The emulator's control channel (docs/control.md): time, environment, line faults."""
    if device.control is None:
        pytest.skip("needs_control: no control channel (give --emulator-control ADDR)")
    with ControlClient(device.control) as client:
        yield client


@pytest.fixture(scope="session")
def link_log_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured: Path | None = request.config.getoption("link_log_dir")
    return configured if configured is not None else Path(tmp_path_factory.mktemp("link-logs"))


@pytest.fixture
def link_log(request: pytest.FixtureRequest, link_log_dir: Path) -> Iterator[LinkLog]:
    """This test's record of the link; the failure report names it."""
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in request.node.nodeid)
    log = LinkLog(link_log_dir / f"{name}.log")
    request.node.stash[LINK_LOG] = log
    yield log
    log.close()


def _connected(
    request: pytest.FixtureRequest,
    device: DeviceUnderTest,
    log: LinkLog,
    role: Role = Role.CLINICIAN,
    session: bool = True,
) -> Iterator[Programmer]:
    _skip_if_emulator_only(request, device)
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
def link(
    device: DeviceUnderTest, request: pytest.FixtureRequest, link_log: LinkLog
) -> Iterator[Programmer]:
    """A programmer that has only said hello: no session, for raw-frame tests."""
    yield from _connected(request, device, link_log, session=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not report.failed:
        return report
    log = item.stash.get(LINK_LOG, None)
    if log is not None:
        report.sections.append((f"link log ({log.path})", log.tail()))
    if "device" in getattr(item, "fixturenames", ()):
        dut = item.funcargs.get("device") if hasattr(item, "funcargs") else None
        if isinstance(dut, DeviceUnderTest) and dut.emulator is not None:
            report.sections.append(
                (f"emulator log ({dut.emulator.log_path})", dut.emulator.log_tail())
            )
    return report
