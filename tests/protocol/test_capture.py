"""Capture files: how a direction's bytes become records, their stamps, and reading them back."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import Frame, FrameDecoder, FrameError, Reason, decode_body
from protocol.capture import (
    FROM_PUMP,
    LINKTYPE_USER0,
    TO_PUMP,
    WHY_DELIMITERS_ONLY,
    WHY_REST_OF_TOO_LONG,
    WHY_TOO_LONG,
    WHY_UNCLOSED,
    CaptureError,
    CaptureRecord,
    CaptureWriter,
    classify,
    pcap_header,
    read_capture,
)
from protocol.frame import MAX_STUFFED_LEN

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "v2.json").read_text()
)["vectors"]
HELLO = bytes.fromhex(VECTORS[0]["hex"])  # c0 ... c0, a request
HELLO_REPLY = bytes.fromhex(VECTORS[1]["hex"])
C0 = b"\xc0"


def records_of(feeds: list[tuple[int, bytes, int]], *, flush: bool = True) -> list[CaptureRecord]:
    stream = io.BytesIO()
    writer = CaptureWriter(stream)
    for direction, data, t_us in feeds:
        writer.feed(direction, data, t_us)
    if flush:
        writer.flush()
    return list(read_capture(io.BytesIO(stream.getvalue())))


def datas(records: list[CaptureRecord]) -> list[bytes]:
    return [r.data for r in records]


def test_the_global_header_is_classic_pcap_microseconds_user0() -> None:
    header = pcap_header()
    assert struct.unpack("<IHHiIII", header) == (0xA1B2C3D4, 2, 4, 0, 0, 65535, 147)
    assert LINKTYPE_USER0 == 147
    stream = io.BytesIO()
    CaptureWriter(stream)
    assert stream.getvalue() == header


def test_two_frames_in_one_feed_are_two_records() -> None:
    records = records_of([(FROM_PUMP, HELLO_REPLY + HELLO_REPLY, 5)])
    assert datas(records) == [HELLO_REPLY, HELLO_REPLY]
    assert {(r.direction, r.t_us) for r in records} == {(FROM_PUMP, 5)}


def test_a_frame_split_at_every_byte_is_one_record_stamped_with_its_closing_delimiter() -> None:
    stream = HELLO + HELLO
    for cut in range(1, len(stream)):
        records = records_of([(TO_PUMP, stream[:cut], 100), (TO_PUMP, stream[cut:], 200)])
        assert datas(records) == [HELLO, HELLO], cut
        first_closes_in_first_feed = cut >= len(HELLO)
        assert records[0].t_us == (100 if first_closes_in_first_feed else 200), cut
        assert records[1].t_us == 200


def test_byte_by_byte_each_record_has_its_last_bytes_time() -> None:
    stream = HELLO + b"\x01\x02" + HELLO
    writer_out = io.BytesIO()
    writer = CaptureWriter(writer_out)
    for index, byte in enumerate(stream):
        writer.feed(TO_PUMP, bytes([byte]), 1_000 + index)
    records = list(read_capture(io.BytesIO(writer_out.getvalue())))
    assert datas(records) == [HELLO, b"\x01\x02\xc0", HELLO[1:]]
    ends = [len(HELLO) - 1, len(HELLO) + 2, len(stream) - 1]
    assert [r.t_us for r in records] == [1_000 + end for end in ends]


def test_incomplete_data_waits_for_more_and_flush_writes_it_as_a_run() -> None:
    out = io.BytesIO()
    writer = CaptureWriter(out)
    writer.feed(TO_PUMP, HELLO[:5], 7)
    assert out.getvalue() == pcap_header()  # nothing complete yet
    writer.flush()
    [record] = read_capture(io.BytesIO(out.getvalue()))
    assert (record.data, record.t_us) == (HELLO[:5], 7)
    [item] = classify([record])
    assert item.chunk is None
    assert item.why_not_a_frame == WHY_UNCLOSED


def test_leaving_the_with_block_flushes() -> None:
    out = io.BytesIO()

    def shell() -> None:
        with CaptureWriter(out) as writer:
            writer.feed(FROM_PUMP, HELLO_REPLY[:-1], 3)
            raise RuntimeError("the shell failed")

    with pytest.raises(RuntimeError):
        shell()
    assert datas(list(read_capture(io.BytesIO(out.getvalue())))) == [HELLO_REPLY[:-1]]


def test_garbage_between_frames_is_a_chunk_the_receiver_refuses() -> None:
    # Noise between a frame's closing delimiter and the next one's opening delimiter: the
    # receiver sees a chunk, closed by that opening delimiter, which the next frame then
    # shares (the pump answers the noise with FRAME_TOO_SHORT, and decodes the frame).
    stream = HELLO + b"\x01\x02" + HELLO
    records = records_of([(TO_PUMP, stream, 1)])
    assert datas(records) == [HELLO, b"\x01\x02\xc0", HELLO[1:]]
    events = [decode_body(item.chunk) for item in classify(records) if item.chunk is not None]
    assert events == FrameDecoder().feed(stream)
    assert isinstance(events[1], FrameError)
    assert events[1].reason is Reason.FRAME_TOO_SHORT
    assert isinstance(events[2], Frame)


def test_frames_sharing_a_delimiter_and_leading_delimiters() -> None:
    shared = HELLO + HELLO[1:]  # c0 F1 c0 F2 c0: one delimiter between them
    assert datas(records_of([(TO_PUMP, shared, 1)])) == [HELLO, HELLO[1:]]
    leading = C0 + C0 + HELLO  # stray delimiters go with the frame they precede
    assert datas(records_of([(TO_PUMP, leading, 1)])) == [leading]
    items = list(classify(records_of([(TO_PUMP, shared + leading, 1)])))
    assert [item.chunk for item in items] == [HELLO[1:-1]] * 3
    assert all(isinstance(decode_body(item.chunk or b""), Frame) for item in items)


def test_delimiters_alone_are_a_run() -> None:
    [item] = classify(records_of([(FROM_PUMP, C0 * 3, 4)]))
    assert (item.record.data, item.why_not_a_frame) == (C0 * 3, WHY_DELIMITERS_ONLY)


def test_directions_are_split_independently_and_interleave_by_completion() -> None:
    records = records_of(
        [
            (TO_PUMP, HELLO[:4], 10),
            (FROM_PUMP, HELLO_REPLY[:6], 11),
            (TO_PUMP, HELLO[4:], 12),
            (FROM_PUMP, HELLO_REPLY[6:], 13),
        ]
    )
    assert [(r.direction, r.data, r.t_us) for r in records] == [
        (TO_PUMP, HELLO, 12),
        (FROM_PUMP, HELLO_REPLY, 13),
    ]


def test_flush_writes_what_is_pending_oldest_first() -> None:
    records = records_of([(FROM_PUMP, b"\xc0\x01", 20), (TO_PUMP, b"\xc0\x02", 30)])
    assert [(r.direction, r.t_us) for r in records] == [(FROM_PUMP, 20), (TO_PUMP, 30)]


def test_a_chunk_over_the_limit_is_cut_where_the_receiver_gives_up() -> None:
    first = C0 + b"\x55" * (MAX_STUFFED_LEN + 500)
    second = C0 + b"\x66" * (MAX_STUFFED_LEN + 100)  # a new chunk, over the limit too
    stream = first + second + HELLO  # HELLO's opening delimiter ends the long chunk
    records = records_of([(TO_PUMP, stream, 9)])
    assert b"".join(datas(records)) == stream
    items = list(classify(records))
    assert [item.why_not_a_frame for item in items] == [
        WHY_TOO_LONG,
        WHY_REST_OF_TOO_LONG,
        WHY_TOO_LONG,
        WHY_REST_OF_TOO_LONG,
        None,
    ]
    assert len(items[0].record.data) == 1 + MAX_STUFFED_LEN + 1
    assert items[2].record.data == second[: 1 + MAX_STUFFED_LEN + 1]
    assert items[4].record.data == HELLO
    decoder_events = []
    decoder = FrameDecoder()
    for byte in stream:
        decoder_events += decoder.feed(bytes([byte]))
    assert [type(e) for e in decoder_events] == [FrameError, FrameError, Frame]
    assert all(
        e.reason is Reason.FRAME_TOO_LONG for e in decoder_events if isinstance(e, FrameError)
    )


def test_memory_is_bounded_without_delimiters_and_with_only_delimiters() -> None:
    for byte in (b"\x55", C0):
        records = records_of([(FROM_PUMP, byte * 10_000, 1)], flush=False)
        assert all(len(r.data) <= MAX_STUFFED_LEN + 2 for r in records)
        assert sum(len(r.data) for r in records) > 10_000 - MAX_STUFFED_LEN - 2


def test_a_round_trip_gives_back_every_record() -> None:
    conversation = [
        (TO_PUMP if v["from"] == "programmer" else FROM_PUMP, bytes.fromhex(v["hex"]))
        for v in VECTORS
    ]
    feeds = [(d, data, 1_795_000_000_000_000 + i) for i, (d, data) in enumerate(conversation)]
    records = records_of(feeds)
    assert [(r.direction, r.data, r.t_us) for r in records] == feeds


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([TO_PUMP, FROM_PUMP]),
            st.lists(
                st.sampled_from([C0, b"\x01", b"\xdb", b"\xdc", HELLO, HELLO_REPLY]), max_size=20
            ).map(b"".join),
        ),
        max_size=30,
    )
)
def test_records_are_the_bytes_and_the_chunks_are_the_receivers(
    feeds: list[tuple[int, bytes]],
) -> None:
    stamped = [(d, data, t) for t, (d, data) in enumerate(feeds)]
    records = records_of(stamped)
    for direction in (TO_PUMP, FROM_PUMP):
        sent = [(data, t) for d, data, t in stamped if d == direction]
        stream = b"".join(data for data, _ in sent)
        mine = [r for r in records if r.direction == direction]
        assert b"".join(r.data for r in mine) == stream  # not a byte lost or added
        time_of_byte = [t for data, t in sent for _ in data]
        end = 0
        for record in mine:  # each stamped with its last byte's time
            end += len(record.data)
            assert record.t_us == time_of_byte[end - 1]
        expected = FrameDecoder().feed(stream)
        chunks = [i.chunk for i in classify(mine) if i.chunk is not None]
        assert [decode_body(chunk) for chunk in chunks] == expected


def test_a_file_that_is_not_pcap_is_named_as_such() -> None:
    with pytest.raises(CaptureError, match=r"^not a pcap file: it starts with 48656c6c"):
        list(read_capture(io.BytesIO(b"Hello, this is a text file, not a capture")))
    with pytest.raises(CaptureError, match="shorter than the 24-byte pcap header"):
        list(read_capture(io.BytesIO(b"\xd4\xc3\xb2\xa1")))
    with pytest.raises(CaptureError, match="pcapng"):
        list(read_capture(io.BytesIO(b"\x0a\x0d\x0d\x0a" + bytes(40))))


def test_another_link_type_is_refused() -> None:
    ethernet = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    with pytest.raises(CaptureError, match=r"link type 1, not 147 \(DLT_USER0\)"):
        list(read_capture(io.BytesIO(ethernet)))


def test_truncated_records_are_named_with_their_place() -> None:
    whole = io.BytesIO()
    with CaptureWriter(whole) as writer:
        writer.feed(TO_PUMP, HELLO, 1)
        writer.feed(FROM_PUMP, HELLO_REPLY, 2)
    data = whole.getvalue()
    second_at = 24 + 16 + 1 + len(HELLO)
    cut_header = io.BytesIO(data[: second_at + 5])
    records = read_capture(cut_header)
    assert next(records).data == HELLO  # what is whole is read before the fault
    with pytest.raises(
        CaptureError, match=f"^truncated record 2 at byte {second_at}: 5 of its 16 header bytes$"
    ):
        next(records)
    with pytest.raises(
        CaptureError,
        match=f"^truncated record 2 at byte {second_at}: 3 of its {1 + len(HELLO_REPLY)} bytes$",
    ):
        list(read_capture(io.BytesIO(data[: second_at + 16 + 3])))


def test_a_bad_direction_byte_or_empty_record_is_refused() -> None:
    header = pcap_header()
    bad = header + struct.pack("<IIII", 0, 0, 2, 2) + b"\x07\xc0"
    with pytest.raises(CaptureError, match="record 1 at byte 24: direction byte 7"):
        list(read_capture(io.BytesIO(bad)))
    empty = header + struct.pack("<IIII", 0, 0, 0, 0)
    with pytest.raises(CaptureError, match="record 1 at byte 24: empty"):
        list(read_capture(io.BytesIO(empty)))


def test_big_endian_and_nanosecond_files_of_other_tools_are_read() -> None:
    header = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 147)
    record = struct.pack(">IIII", 3, 4_000_500, 2, 2) + b"\x01\xc0"
    assert list(read_capture(io.BytesIO(header + record))) == [
        CaptureRecord(FROM_PUMP, 3_004_000, C0)
    ]


def test_feed_refuses_an_unknown_direction_or_an_unstampable_time() -> None:
    writer = CaptureWriter(io.BytesIO())
    with pytest.raises(ValueError, match="direction 2"):
        writer.feed(2, HELLO, 0)
    with pytest.raises(ValueError, match="time -1 us"):
        writer.feed(TO_PUMP, HELLO, -1)


def hexdump(data: bytes) -> str:
    """``hexdump -C``, as docs/protocol.md shows a capture."""
    lines = []
    for offset in range(0, len(data), 16):
        row = data[offset : offset + 16]
        cells = " ".join(f"{b:02x}" for b in row[:8]) + "  " + " ".join(f"{b:02x}" for b in row[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{offset:08x}  {cells:<48}  |{text}|")
    return "\n".join([*lines, f"{len(data):08x}"])


def documented_example() -> bytes:
    out = io.BytesIO()
    with CaptureWriter(out) as writer:
        writer.feed(TO_PUMP, HELLO, 1_795_000_000_000_000)
        writer.feed(FROM_PUMP, HELLO_REPLY, 1_795_000_000_004_321)
    return out.getvalue()


def test_the_example_in_the_specification_is_what_the_writer_writes() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    section = doc[doc.index("## 15. Capture files") :]
    assert f"```\n{hexdump(documented_example())}\n```" in section
    assert "link type **147**" in section
