"""A labgrid target's serial port as the device URL, with labgrid's objects faked: the real
labgrid route runs in `make test-farm` (tools/farm/run), from labgrid's own environment."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from hil_tests.labgrid_support import labgrid_device_url


class NoResourceFoundError(Exception):
    pass


@dataclass
class SerialPort:
    port: str | None
    speed: int = 115_200


@dataclass
class NetworkSerialPort:
    host: str
    port: int | None
    speed: int = 115_200
    protocol: str = "rfc2217"


@dataclass
class Target:
    resources: list[Any]

    def get_resource(self, kind: type) -> Any:
        for resource in self.resources:
            if isinstance(resource, kind):
                return resource
        raise NoResourceFoundError(f"no {kind.__name__} resource found")


@dataclass
class Environment:
    targets: dict[str, Target]
    config_file: str = "/lab/pump.yaml"
    refuse: Exception | None = None

    def get_target(self, role: str = "main") -> Target | None:
        if self.refuse is not None:
            raise self.refuse
        return self.targets.get(role)


class Proxies:
    @staticmethod
    def get_host_and_port(port: NetworkSerialPort) -> tuple[str, int | None]:
        return port.host, port.port


ENV_KEY = pytest.StashKey[Environment | None]()


@dataclass
class Config:
    """The part of pytest.Config the module reads."""

    env: Environment | None  # what labgrid's pytest_configure put in its stash key
    plugins: set[str] = field(default_factory=lambda: {"labgrid"})
    baud: int | None = 115_200
    lg_env: str | None = None
    lg_coordinator: str | None = None
    configured: bool = True  # labgrid's pytest_configure has run (it runs last)
    stash: pytest.Stash = field(default_factory=pytest.Stash)

    def __post_init__(self) -> None:
        if self.configured:
            self.stash[ENV_KEY] = self.env
        self.pluginmanager = types.SimpleNamespace(hasplugin=lambda name: name in self.plugins)

    def getoption(self, name: str, default: Any = None) -> Any:
        options = {
            "device_baud": self.baud,
            "lg_env": self.lg_env,
            "lg_coordinator": self.lg_coordinator,
        }
        return options.get(name, default)


ENVIRONMENT_FILES: dict[str, Environment] = {}


class EnvironmentFromFile:
    """labgrid.Environment(config_file=...), reading the files above."""

    def __init__(self, config_file: str) -> None:
        if config_file not in ENVIRONMENT_FILES:
            raise FileNotFoundError(f"no such file: {config_file}")
        self._env = ENVIRONMENT_FILES[config_file]
        self.config_file = config_file
        self.config = types.SimpleNamespace(set_option=self._set_option)
        self.options: dict[str, str] = {}

    def _set_option(self, name: str, value: str) -> None:
        self.options[name] = value

    def get_target(self, role: str = "main") -> Target | None:
        return self._env.get_target(role)


@pytest.fixture(autouse=True)
def fake_labgrid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LG_ENV", raising=False)
    modules: dict[str, dict[str, object]] = {
        "labgrid": {"Environment": EnvironmentFromFile},
        "labgrid.pytestplugin": {},
        "labgrid.pytestplugin.hooks": {"LABGRID_ENV_KEY": ENV_KEY},
        "labgrid.resource": {"SerialPort": SerialPort, "NetworkSerialPort": NetworkSerialPort},
        "labgrid.exceptions": {"NoResourceFoundError": NoResourceFoundError},
        "labgrid.util": {},
        "labgrid.util.proxy": {"proxymanager": Proxies},
    }
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)


def url_of(config: Config) -> str | None:
    return labgrid_device_url(config)  # type: ignore[arg-type]  # a stand-in for pytest.Config


def main_with(*resources: Any) -> Environment:
    return Environment({"main": Target(list(resources))})


def test_no_labgrid_plugin_or_no_environment_is_no_url() -> None:
    assert url_of(Config(main_with(SerialPort("/dev/ttyUSB0")), plugins=set())) is None
    assert url_of(Config(None)) is None


def test_asked_before_labgrids_own_configure_it_reads_labgrids_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(ENVIRONMENT_FILES, "/lab/early.yaml", main_with(SerialPort("/dev/ttyS4")))
    early = Config(None, lg_env="/lab/early.yaml", configured=False)
    assert url_of(early) == "/dev/ttyS4"
    monkeypatch.setenv("LG_ENV", "/lab/early.yaml")
    assert url_of(Config(None, configured=False)) == "/dev/ttyS4"
    with pytest.raises(pytest.exit.Exception, match=r"^labgrid environment /lab/gone.yaml: no"):
        url_of(Config(None, lg_env="/lab/gone.yaml", configured=False))


def test_a_place_port_is_opened_as_labgrids_serial_driver_opens_it() -> None:
    port = NetworkSerialPort("farm-host", 40123)
    assert url_of(Config(main_with(port))) == "rfc2217://farm-host:40123?ign_set_control"


def test_a_raw_network_port_is_a_socket_url() -> None:
    port = NetworkSerialPort("farm-host", 40124, protocol="raw")
    assert url_of(Config(main_with(port))) == "socket://farm-host:40124"


def test_a_local_port_is_its_path() -> None:
    assert url_of(Config(main_with(SerialPort("/dev/ttyUSB3")))) == "/dev/ttyUSB3"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (Environment({}), "labgrid environment /lab/pump.yaml has no target 'main'"),
        (
            main_with(),
            "labgrid environment /lab/pump.yaml: target 'main' has no NetworkSerialPort or "
            "SerialPort resource",
        ),
        (
            main_with(NetworkSerialPort("farm-host", None)),
            "labgrid environment /lab/pump.yaml: its NetworkSerialPort is not exported: is the "
            "place acquired?",
        ),
        (
            main_with(NetworkSerialPort("farm-host", 1, protocol="ssh")),
            "labgrid environment /lab/pump.yaml: NetworkSerialPort protocol 'ssh' is neither "
            "rfc2217 nor raw",
        ),
        (
            Environment({}, refuse=RuntimeError("place pump-farm is not\n acquired")),
            "labgrid environment /lab/pump.yaml: target 'main': place pump-farm is not acquired",
        ),
        (
            main_with(SerialPort("/dev/ttyUSB0", speed=9600)),
            "labgrid environment /lab/pump.yaml: its port runs at 9600 baud, this run at 115200 "
            "(--device-baud)",
        ),
    ],
)
def test_a_target_without_a_usable_port_ends_the_run_in_one_line(
    env: Environment, message: str
) -> None:
    with pytest.raises(pytest.exit.Exception) as stopped:
        url_of(Config(env))
    assert stopped.value.msg == message
    assert stopped.value.returncode == pytest.ExitCode.USAGE_ERROR
