"""The live shell around the device: reads the port, reads the clock, writes replies."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from emulator.device import EmulatedDevice
from emulator.persistence_shell import DurableDevice
from emulator.sim_clock import SimClock
from transport import ByteChannel

log = logging.getLogger(__name__)


def serve(
    channel: ByteChannel,
    device: EmulatedDevice,
    clock: SimClock,
    should_stop: Callable[[], bool] = lambda: False,
    durable: DurableDevice | None = None,
) -> None:
    """Serve until ``should_stop`` says so; between requests, therapy runs on. With
    ``durable`` (``--state``), nothing is written before the state it reflects is saved."""
    while not should_stop():
        data = channel.read_some()
        now_us = clock.now_us()
        link_us = time.monotonic_ns() // 1_000
        out = device.receive(data, now_us, link_us) if data else device.tick(now_us, link_us)
        if durable is not None:
            out = durable.persist(out)  # b"" when the save failed: a retransmission retries
        if out:
            channel.write(out)
