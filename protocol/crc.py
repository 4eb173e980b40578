"""CRC-16/CCITT-FALSE, the frame check of protocol v1.

Catalogued parameters: width 16, poly 0x1021, init 0xFFFF, no reflection, xorout 0.
Check value for ASCII ``123456789`` is 0x29B1. ``binascii.crc_hqx`` implements exactly
this algorithm in C, which is why we do not check it through construct's ``Checksum``.
"""

from binascii import crc_hqx

CRC_INIT = 0xFFFF
CRC_CHECK_VALUE = 0x29B1


def crc16_ccitt_false(data: bytes | bytearray | memoryview) -> int:
    return crc_hqx(data, CRC_INIT)
