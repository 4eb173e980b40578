"""The test rig's side of a running emulator: a client for its control channel.

Deliberately at the transport level: JSON lines over a socket, no pump model and no wire
protocol, so a HIL suite may use it without knowing how the emulator is built
(docs/control.md, docs/architecture.md).
"""

from rig_control.address import ControlAddress, parse_address
from rig_control.client import ControlClient, ControlError, ControlUnavailable

__all__ = [
    "ControlAddress",
    "ControlClient",
    "ControlError",
    "ControlUnavailable",
    "parse_address",
]
