"""How long to wait for a reply: what the line takes, plus a margin for the machine.

A reply can only come after the request has crossed the wire and before the reply has: at
9600 baud a longest frame (512 bytes, stuffed to 1024, 10 bits a byte with start and stop
bits) takes about 1.07 s each way, at 115200 baud 89 ms. The margin covers the device's own
work and a loaded CI machine; ``--device-timeout`` overrides the whole figure.
"""

from __future__ import annotations

from protocol.frame import MAX_STUFFED_LEN

BITS_PER_BYTE = 10  # a UART's start bit, 8 data bits, stop bit
DELIMITERS = 2
MARGIN_S = 2.0


def reply_timeout_s(baudrate: int, margin_s: float = MARGIN_S) -> float:
    """Seconds to wait for a reply at ``baudrate``: a longest frame each way, plus the margin."""
    frame_s = (MAX_STUFFED_LEN + DELIMITERS) * BITS_PER_BYTE / baudrate
    return round(2 * frame_s + margin_s, 3)
