"""Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so 0x00 can delimit frames.

A receiver that starts mid-stream, or sees line noise, loses at most the frame the noise touched:
the next 0x00 puts it back in step. Overhead is at most one byte per 254.
"""


class CobsDecodeError(ValueError):
    """The bytes between two delimiters are not a valid COBS encoding."""


_MAX_RUN = 254  # data bytes a single code byte can carry (code 0xFF)


def cobs_encode(data: bytes) -> bytes:
    """Canonical COBS, as in Cheshire and Baker's paper and the Wikipedia examples.

    A frame whose last run is a full 254 bytes ends on that 0xFF block, with no empty block.
    """
    out = bytearray()
    pieces = data.split(b"\x00")
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        start = 0
        while len(piece) - start >= _MAX_RUN:
            out.append(_MAX_RUN + 1)
            out += piece[start : start + _MAX_RUN]
            start += _MAX_RUN
        if index == last and start and start == len(piece):
            break
        out.append(len(piece) - start + 1)
        out += piece[start:]
    return bytes(out)


def cobs_decode(encoded: bytes | bytearray) -> bytes:
    """Decode one frame; ``encoded`` must not contain the 0x00 delimiter."""
    out = bytearray()
    i = 0
    n = len(encoded)
    while i < n:
        code = encoded[i]
        if code == 0:
            raise CobsDecodeError("zero byte inside a COBS frame")
        end = i + code
        if end > n:
            raise CobsDecodeError(
                f"code byte at offset {i} runs {end - n} bytes past the frame end"
            )
        out += encoded[i + 1 : end]
        if code != _MAX_RUN + 1 and end < n:
            out.append(0)
        i = end
    return bytes(out)
