from protocol.crc import CRC_CHECK_VALUE, crc16_ccitt_false


def test_catalogued_check_value() -> None:
    # CRC-16/CCITT-FALSE check value from the CRC RevEng catalogue ("CRC-16/IBM-3740").
    assert crc16_ccitt_false(b"123456789") == 0x29B1 == CRC_CHECK_VALUE


def test_crc_of_empty_input_is_the_initial_value() -> None:
    assert crc16_ccitt_false(b"") == 0xFFFF
