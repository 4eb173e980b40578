"""COBS against the published examples, and round trips over arbitrary data."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.cobs import CobsDecodeError, cobs_decode, cobs_encode

RUN_1_254 = bytes(range(1, 255))

# Examples 1-10 of the Wikipedia article "Consistent Overhead Byte Stuffing" (delimiter removed).
PUBLISHED = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (RUN_1_254, b"\xff" + RUN_1_254),
    (b"\x00" + RUN_1_254, b"\x01\xff" + RUN_1_254),
    (RUN_1_254 + b"\xff", b"\xff" + RUN_1_254 + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


@pytest.mark.parametrize(("data", "encoded"), PUBLISHED)
def test_published_examples(data: bytes, encoded: bytes) -> None:
    assert cobs_encode(data) == encoded
    assert cobs_decode(encoded) == data


@given(st.binary(max_size=2000))
def test_round_trip_and_no_zero_bytes(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(encoded) == data


@pytest.mark.parametrize("bad", [b"\x05ab", b"\x00", b"\x02a\x00"])
def test_invalid_encodings_raise_typed_error(bad: bytes) -> None:
    with pytest.raises(CobsDecodeError):
        cobs_decode(bad)
