"""One device, one test run (hil_tests/device_lock.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hil_tests.device_lock import DeviceBusy, DeviceLock, device_key
from hil_tests.timing import reply_timeout_s


def test_a_second_holder_is_refused_naming_the_first_ones_pid(tmp_path: Path) -> None:
    with DeviceLock("socket://127.0.0.1:4000", tmp_path):
        with pytest.raises(DeviceBusy) as busy:
            DeviceLock("SOCKET://127.0.0.1:4000/", tmp_path).acquire()  # the same device
        assert f"PID {os.getpid()}" in str(busy.value)
        assert "pump device SOCKET://127.0.0.1:4000/ is in use" in str(busy.value)
        assert "\n" not in str(busy.value)
        DeviceLock("socket://127.0.0.1:4001", tmp_path).acquire()  # another device: free
    with DeviceLock("socket://127.0.0.1:4000", tmp_path):  # released at the end of the run
        pass


def test_a_port_and_its_symlink_are_one_device(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB0"
    port.touch()
    alias = tmp_path / "pump-dongle"
    alias.symlink_to(port)
    assert device_key(str(alias)) == device_key(str(port))
    with DeviceLock(str(port), tmp_path), pytest.raises(DeviceBusy):
        DeviceLock(str(alias), tmp_path).acquire()


def test_reply_timeouts_follow_the_baud_rate() -> None:
    # A longest frame, stuffed (1024 bytes and 2 delimiters), 10 bits a byte, both ways.
    assert reply_timeout_s(9600) == pytest.approx(2 * 10_260 / 9600 + 2.0, abs=0.001)
    assert reply_timeout_s(115_200) == pytest.approx(2 * 10_260 / 115_200 + 2.0, abs=0.001)
    assert reply_timeout_s(300) > 60  # a slow line is waited for, not timed out
