"""Byte stuffing (RFC 1055, SLIP): keeps the frame delimiter 0xC0 out of every frame.

Inside a frame, 0xC0 is sent as 0xDB 0xDC and 0xDB as 0xDB 0xDD. The delimiter can then never
occur inside a frame, so a receiver that starts mid-stream, or sees noise, is back in step
at the next 0xC0 and loses at most the frame the noise touched.

Why not COBS: both keep the delimiter out; SLIP's unstuffing is two ``bytes.replace`` calls
that run in C, about fifteen times faster in Python than a COBS decoder on our zero-rich
frames. Its worst case doubles a frame, which the maximum frame length bounds.
"""

END = 0xC0
ESC = 0xDB
END_BYTE = b"\xc0"
ESC_BYTE = b"\xdb"
ESCAPED_END = b"\xdb\xdc"  # 0xC0 inside a frame
ESCAPED_ESC = b"\xdb\xdd"  # 0xDB inside a frame


class StuffingError(ValueError):
    """An escape byte not followed by one of the two escape codes."""


def stuff(body: bytes) -> bytes:
    # Membership of an int is a memchr; of a one-byte bytes, several times slower.
    if ESC not in body and END not in body:
        return body
    return body.replace(ESC_BYTE, ESCAPED_ESC).replace(END_BYTE, ESCAPED_END)


def unstuff(chunk: bytes) -> bytes:
    """Undo ``stuff``; ``chunk`` must not contain the delimiter."""
    if ESC not in chunk:
        return chunk
    body = chunk.replace(ESCAPED_END, END_BYTE).replace(ESCAPED_ESC, ESC_BYTE)
    # Each escape pair undone is one byte shorter; an escape byte in no pair is not undone.
    if chunk.count(ESC) != len(chunk) - len(body):
        raise StuffingError("escape byte 0xDB not followed by 0xDC or 0xDD")
    return body
