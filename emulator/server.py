"""The live shell around the device: reads the port, reads the clock, writes replies."""

from __future__ import annotations

import logging
import time
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
        link_us = time.monotonic_ns() // 1_000
        out = device.receive(data, now_us, link_us) if data else device.tick(now_us, link_us)
        if out:
            channel.write(out)
