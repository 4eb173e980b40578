"""The live shell around the device: reads the port, reads the clock, writes replies."""

from __future__ import annotations

import logging
from collections.abc import Callable

from emulator.device import EmulatedDevice
from emulator.sim_clock import SimClock
from transport import ByteChannel

log = logging.getLogger(__name__)


def serve(
    channel: ByteChannel,
    device: EmulatedDevice,
    clock: SimClock,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Serve until ``should_stop`` says so; between requests, therapy runs on."""
    while not should_stop():
        data = channel.read_some()
        now_us = clock.now_us()
        if not data:
            device.tick(now_us)
            continue
        reply = device.receive(data, now_us)
        if reply:
            channel.write(reply)
