"""The pictures the timeline plots write: decoded, and their size read from the PNG header."""

from __future__ import annotations

import struct
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_SIZE_PX = (1200, 800)  # issue 9: at least 1200 x 800


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which the PNG format puts first."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def decoded_size(path: Path) -> tuple[int, int]:
    """(width, height) of the decoded pixels: the whole file decodes, not just its header."""
    from matplotlib import image

    pixels = image.imread(path)
    height, width = pixels.shape[:2]
    return width, height
