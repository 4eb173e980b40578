"""tools/farm/helpers.py: the place's URL as `labgrid-client show` prints it (labgrid 26),
and the listener wait the farm's start-up relies on."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from types import ModuleType

import pytest

HELPERS_PATH = Path(__file__).resolve().parents[1] / "tools" / "farm" / "helpers.py"

SHOW_ACQUIRED = """\
Place 'pump-farm':
  matches:
    pump-farm-exporter/pump/NetworkSerialPort
  acquired: vm/root
  acquired resources:
    pump-farm-exporter/pump/NetworkSerialPort/RawSerialPort
  created: 2026-11-23 06:31:20.416611
  changed: 2026-11-23 06:31:21.944265
Acquired resource 'RawSerialPort' (pump-farm-exporter/pump/NetworkSerialPort/RawSerialPort):
  {'acquired': 'pump-farm',
   'avail': True,
   'cls': 'NetworkSerialPort',
   'params': {'extra': {'path': '/dev/pts/0',
                        'proxy': 'localhost',
                        'proxy_required': False},
              'host': '127.0.0.1',
              'port': 44567,
              'speed': 115200}}
"""


@pytest.fixture(scope="module")
def helpers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("farm_helpers", HELPERS_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_acquired_network_port_is_the_url(helpers: ModuleType) -> None:
    assert helpers.place_url(SHOW_ACQUIRED) == "rfc2217://127.0.0.1:44567?ign_set_control"


def test_no_url_before_the_exporter_has_a_port(helpers: ModuleType) -> None:
    not_yet = SHOW_ACQUIRED.replace("'port': 44567", "'port': None")
    assert helpers.place_url(not_yet) is None
    released = SHOW_ACQUIRED.split("Acquired resource")[0]
    assert helpers.place_url(released) is None


def test_wait_listen_sees_a_listener_and_gives_up_on_none(helpers: ModuleType) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert helpers.wait_listen(server.getsockname()[1], 5.0)
    port = helpers.free_port()
    assert not helpers.wait_listen(port, 0.3)
