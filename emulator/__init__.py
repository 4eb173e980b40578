"""The emulated pump on a port: the only layer that owns I/O and real time for the pump."""

from emulator.device import EmulatedDevice, Identity
from emulator.sim_clock import SimClock

__all__ = ["EmulatedDevice", "Identity", "SimClock"]
