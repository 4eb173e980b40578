"""A labgrid place as the device under test: the URL of its target's serial port.

A lab that runs labgrid names its devices in an environment file and gives it to pytest with
labgrid's own ``--lg-env`` (or ``$LG_ENV``); with that, and no ``--device-url``, the suite
tests the ``main`` target's serial port. labgrid's plugin owns those options and builds the
environment; this module reads it, and imports labgrid only then, so the suite needs no
labgrid anywhere else. Asked before labgrid's ``pytest_configure`` (it runs last), it builds
the environment from labgrid's options as that hook does.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, NoReturn

import pytest

LABGRID_PLUGIN = "labgrid"  # labgrid's pytest11 entry point
TARGET = "main"  # the target labgrid's own ``target`` fixture uses
_OWN_ENV = pytest.StashKey[Any]()  # built here when asked before labgrid's plugin built it


def labgrid_device_url(config: pytest.Config) -> str | None:
    """The pyserial URL of the labgrid target's serial port; None when labgrid's plugin is not
    loaded or was given no environment. A target without a usable port ends the run with one
    line."""
    if not config.pluginmanager.hasplugin(LABGRID_PLUGIN):
        return None
    env = _environment(config)
    if env is None:
        return None
    where = f"labgrid environment {env.config_file}"
    try:
        target = env.get_target(TARGET)
    except Exception as exc:  # labgrid's errors have no common base: name them all the same
        _stop(f"{where}: target {TARGET!r}: {_reason(exc)}")
    if target is None:
        _stop(f"{where} has no target {TARGET!r}")
    try:
        url, speed = _serial_port(target)
    except LookupError as exc:
        _stop(f"{where}: {exc}")
    except Exception as exc:
        _stop(f"{where}: target {TARGET!r}: cannot reach its serial port: {_reason(exc)}")
    baud = config.getoption("device_baud", default=None)
    if baud is not None and speed is not None and baud != speed:
        _stop(f"{where}: its port runs at {speed} baud, this run at {baud} (--device-baud)")
    return url


def _environment(config: pytest.Config) -> Any:
    hooks = importlib.import_module("labgrid.pytestplugin.hooks")
    if hooks.LABGRID_ENV_KEY in config.stash:
        return config.stash[hooks.LABGRID_ENV_KEY]
    if _OWN_ENV not in config.stash:
        path = config.getoption("lg_env", default=None) or os.environ.get("LG_ENV")
        env = None
        if path:
            try:
                env = importlib.import_module("labgrid").Environment(config_file=path)
            except Exception as exc:
                _stop(f"labgrid environment {path}: {_reason(exc)}")
            coordinator = config.getoption("lg_coordinator", default=None)
            if coordinator:
                env.config.set_option("coordinator_address", coordinator)
        config.stash[_OWN_ENV] = env
    return config.stash[_OWN_ENV]


def _serial_port(target: Any) -> tuple[str, int | None]:
    """A NetworkSerialPort (a place's port exported by ser2net) or a local SerialPort
    (RawSerialPort, USBSerialPort): the URL pyserial opens, and the speed labgrid records."""
    resource = importlib.import_module("labgrid.resource")
    exceptions = importlib.import_module("labgrid.exceptions")
    for kind in (resource.NetworkSerialPort, resource.SerialPort):
        try:
            port = target.get_resource(kind)
        except exceptions.NoResourceFoundError:
            continue
        speed = int(port.speed) if port.speed else None
        if kind is resource.SerialPort:
            return str(port.port), speed
        return _network_url(port), speed
    raise LookupError(f"target {TARGET!r} has no NetworkSerialPort or SerialPort resource")


def _network_url(port: Any) -> str:
    """As labgrid's SerialDriver does: through its SSH proxy where the exporter requires one,
    and ``ign_set_control`` for ser2net, which confirms no DTR/RTS change on a pty or a port
    without modem lines."""
    proxy = importlib.import_module("labgrid.util.proxy")
    if port.port is None:
        raise LookupError("its NetworkSerialPort is not exported: is the place acquired?")
    host, number = proxy.proxymanager.get_host_and_port(port)
    if port.protocol == "rfc2217":
        return f"rfc2217://{host}:{number}?ign_set_control"
    if port.protocol == "raw":
        return f"socket://{host}:{number}"
    raise LookupError(f"NetworkSerialPort protocol {port.protocol!r} is neither rfc2217 nor raw")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _stop(message: str) -> NoReturn:
    pytest.exit(message, returncode=pytest.ExitCode.USAGE_ERROR)
