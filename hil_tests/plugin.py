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
from hil_tests.link_log import LinkLog
from programmer import Programmer
from programmer.link import Trace
from protocol import Role

URL_ENV = "PUMP_DEVICE_URL"
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
        "--device-timeout",
        type=float,
        default=DEFAULT_REPLY_TIMEOUT_S,
        help="seconds to wait for each reply",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulator_only: needs the emulator (skipped on hardware)")


def pytest_report_header(config: pytest.Config) -> str:
    url = config.getoption("device_url")
    return f"pump device: {url}" if url else "pump device: emulator on a new pty (per session)"


@pytest.fixture(scope="session")
def device(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeviceUnderTest]:
    config = request.config
    url = config.getoption("device_url")
    baudrate = config.getoption("device_baud")
    timeout_s = config.getoption("device_timeout")
    if url:
        key_file = config.getoption("device_key_file")
        yield DeviceUnderTest(url, False, baudrate, timeout_s, key_file)
        return
    workdir = Path(tmp_path_factory.mktemp("emulator"))
    with EmulatorProcess(workdir) as emulator:
        yield DeviceUnderTest(emulator.port, True, baudrate, timeout_s, emulator.key_file, emulator)


def _skip_if_emulator_only(request: pytest.FixtureRequest, device: DeviceUnderTest) -> None:
    if request.node.get_closest_marker("emulator_only") and not device.emulated:
        pytest.skip("needs the emulator")


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
