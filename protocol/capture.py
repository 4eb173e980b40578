"""Captures of the link as pcap files, so a tester's bug report carries the bytes themselves.

Classic pcap (microsecond stamps, snaplen 65535, link type 147, ``DLT_USER0``), one record per
delimited frame or per run of bytes that is not one, each record prefixed by a direction byte
(``TO_PUMP`` 0, programmer to pump; ``FROM_PUMP`` 1) and stamped with the time of its last
byte. Wireshark reads it with ``tools/wireshark/itb_pump.lua``; ``pump-programmer decode
--capture FILE`` prints it. Format and splitting rule: docs/protocol.md, section 15.

Each direction is split on its own, into the chunks ``FrameDecoder`` decodes, and without
losing a byte: the records of one direction, concatenated, are the bytes of that direction.

- A **frame record** is a chunk (1 to 1024 bytes between delimiters, what ``FrameDecoder``
  decodes) with the delimiters before it that no earlier record holds, and its closing
  delimiter: ``C0 chunk C0`` as a sender writes it; ``chunk C0`` when two frames share one
  delimiter (``C0 F1 C0 F2 C0``); ``C0 C0 chunk C0`` after a stray delimiter. It ends at its
  closing delimiter. Whether the chunk is a valid frame is the reader's to say, as the
  receiver does (noise between two frames is a chunk too, and the pump answers it).
- A **run** is every other record: bytes no delimiter closed when the capture ends; a chunk
  cut at its 1025th byte (where a ``FrameDecoder`` fed byte by byte says ``FRAME_TOO_LONG``
  and skips to the next delimiter), then the rest of it up to that delimiter; delimiters
  with no chunk after them (more than 1024 in a row, or at the end).

Pure: the stream and every time are passed in. A shell's whole part (here the emulator,
which writes what the pump sends and reads what the programmer sends)::

    with open(path, "wb") as stream, CaptureWriter(stream) as capture:
        way = {"rx": TO_PUMP, "tx": FROM_PUMP}  # the programmer: rx FROM_PUMP, tx TO_PUMP
        channel = CapturingChannel(channel, lambda rx_tx, data: capture.feed(
            way[rx_tx], data, time.time_ns() // 1000))
        serve(channel, ...)  # leaving the block writes what is pending, errors included
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

from protocol.frame import MAX_STUFFED_LEN
from protocol.stuffing import END, END_BYTE

TO_PUMP = 0  # bytes the programmer sent
FROM_PUMP = 1  # bytes the pump sent
DIRECTIONS = (TO_PUMP, FROM_PUMP)
LINKTYPE_USER0 = 147  # DLT_USER0: private use, so no dissector claims it by default
SNAPLEN = 65535
PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
PCAP_VERSION = (2, 4)
_GLOBAL_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")
_MAX_RECORD_LEN = 1 << 18  # a longer length field in a file means the file is corrupt
_MAX_T_US = (1 << 32) * 1_000_000 - 1  # pcap seconds are a u32: until 2106

WHY_DELIMITERS_ONLY = "delimiters only: empty chunks, which receivers ignore"
WHY_TOO_LONG = f"more than {MAX_STUFFED_LEN} bytes without a delimiter (FRAME_TOO_LONG)"
WHY_REST_OF_TOO_LONG = "the rest of a chunk over the length limit, up to the next delimiter"
WHY_UNCLOSED = "no closing delimiter: the capture ends here"


class CaptureError(ValueError):
    """A file that is not a readable capture of this link; the message says what and where."""


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    direction: int  # TO_PUMP or FROM_PUMP
    t_us: int  # Unix time of the record's last byte, microseconds
    data: bytes  # the bytes on the wire, delimiters included, without the direction byte


@dataclass(frozen=True, slots=True)
class Classified:
    """A record and what it holds: the chunk a frame record delimits, or why it is a run."""

    record: CaptureRecord
    chunk: bytes | None  # the bytes between the delimiters, for FrameDecoder's decode_body
    why_not_a_frame: str | None


def pcap_header() -> bytes:
    return _GLOBAL_HEADER.pack(PCAP_MAGIC_US, *PCAP_VERSION, 0, 0, SNAPLEN, LINKTYPE_USER0)


class _Splitter:
    """One direction's bytes into records; holds at most one chunk, like FrameDecoder."""

    def __init__(self) -> None:
        self._leading = 0  # delimiters not yet held by a record
        self._chunk = bytearray()
        self._t_us = 0  # time of the last byte held
        self._cut = False  # inside a chunk over the limit: a run up to the next delimiter

    def feed(self, data: bytes, t_us: int) -> list[tuple[bytes, int]]:
        records: list[tuple[bytes, int]] = []
        pieces = data.split(END_BYTE)
        for index, piece in enumerate(pieces):
            if piece:
                self._bytes(piece, t_us, records)
            if index < len(pieces) - 1:
                self._delimiter(t_us, records)
        return records

    def pending(self) -> tuple[bytes, int] | None:
        """What no delimiter has closed yet, as a run; the splitter starts afresh."""
        data = END_BYTE * self._leading + self._chunk
        self._leading, self._chunk, self._cut = 0, bytearray(), False
        return (data, self._t_us) if data else None

    def _bytes(self, piece: bytes, t_us: int, records: list[tuple[bytes, int]]) -> None:
        self._t_us = t_us
        self._chunk += piece
        while len(self._chunk) > MAX_STUFFED_LEN:  # FrameDecoder gives up here: FRAME_TOO_LONG
            head = bytes(self._chunk[: MAX_STUFFED_LEN + 1])
            del self._chunk[: MAX_STUFFED_LEN + 1]
            records.append((END_BYTE * self._leading + head, t_us))
            self._leading = 0
            self._cut = True

    def _delimiter(self, t_us: int, records: list[tuple[bytes, int]]) -> None:
        if self._cut:  # the rest of an over-long chunk; this delimiter opens the next one
            if self._chunk:
                records.append((bytes(self._chunk), self._t_us))
            self._chunk, self._cut, self._leading = bytearray(), False, 1
        elif self._chunk:
            records.append((END_BYTE * self._leading + self._chunk + END_BYTE, t_us))
            self._chunk, self._leading = bytearray(), 0
        else:
            self._leading += 1
            if self._leading > MAX_STUFFED_LEN:  # bounded memory whatever the input
                records.append((END_BYTE * self._leading, t_us))
                self._leading = 0
        self._t_us = t_us


class CaptureWriter:
    """Writes a pcap capture of both directions of the link to ``stream`` as bytes arrive.

    ``feed`` each read or write as it happens; a record is written once it is complete, and
    the stream is flushed after each, so a capture cut short by a crash holds all but the
    record being written. ``flush`` (or leaving a ``with`` block) writes what is pending, in
    time order. Records are written in the order they end, and a run's end is known only at
    the next delimiter: its stamp may be earlier than the record before it.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._splitters = {direction: _Splitter() for direction in DIRECTIONS}
        stream.write(pcap_header())
        stream.flush()

    def feed(self, direction: int, data: bytes, t_us: int) -> None:
        """Bytes seen in ``direction`` (``TO_PUMP`` or ``FROM_PUMP``) at ``t_us`` (Unix µs)."""
        if direction not in self._splitters:
            raise ValueError(f"direction {direction}, expected {TO_PUMP} or {FROM_PUMP}")
        if not 0 <= t_us <= _MAX_T_US:
            raise ValueError(f"time {t_us} us outside what pcap stamps (0 to {_MAX_T_US})")
        if data:
            self._write(direction, self._splitters[direction].feed(bytes(data), t_us))

    def flush(self) -> None:
        """Write what no delimiter has closed yet, as runs, oldest first."""
        pending: list[tuple[int, int, bytes]] = []  # (time, direction, bytes)
        for direction, splitter in self._splitters.items():
            record = splitter.pending()
            if record is not None:
                pending.append((record[1], direction, record[0]))
        for t_us, direction, data in sorted(pending):
            self._write(direction, [(data, t_us)])
        self._stream.flush()

    def _write(self, direction: int, records: list[tuple[bytes, int]]) -> None:
        if not records:
            return
        out = bytearray()
        for data, t_us in records:
            seconds, micros = divmod(t_us, 1_000_000)
            size = len(data) + 1
            out += _RECORD_HEADER.pack(seconds, micros, size, size)
            out.append(direction)
            out += data
        self._stream.write(out)
        self._stream.flush()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.flush()


def read_capture(stream: BinaryIO) -> Iterator[CaptureRecord]:
    """The records of a capture, in file order; ``CaptureError`` at the first fault.

    Reads what ``CaptureWriter`` writes, and classic pcap of either byte order and either
    stamp resolution from other tools, as long as the link type is 147.
    """
    header = stream.read(_GLOBAL_HEADER.size)
    if header[:4] == PCAPNG_MAGIC:
        raise CaptureError("a pcapng file, not classic pcap: convert it with editcap -F pcap")
    if len(header) < _GLOBAL_HEADER.size:
        raise CaptureError(
            f"not a pcap file: {len(header)} bytes, shorter than the "
            f"{_GLOBAL_HEADER.size}-byte pcap header"
        )
    order, divisor = _byte_order(header[:4])
    _, _, _, _, _, _, network = struct.unpack(order + "IHHiIII", header)
    linktype = network & 0xFFFF
    if linktype != LINKTYPE_USER0:
        raise CaptureError(
            f"link type {linktype}, not {LINKTYPE_USER0} (DLT_USER0): "
            "not a capture of the pump link"
        )
    record_header = struct.Struct(order + "IIII")
    offset = _GLOBAL_HEADER.size
    number = 0
    while True:
        number += 1
        where = f"record {number} at byte {offset}"
        raw = stream.read(record_header.size)
        if not raw:
            return
        if len(raw) < record_header.size:
            raise CaptureError(
                f"truncated {where}: {len(raw)} of its {record_header.size} header bytes"
            )
        seconds, fraction, included, _ = record_header.unpack(raw)
        if included > _MAX_RECORD_LEN:
            raise CaptureError(f"{where}: length {included} bytes, not a plausible record")
        body = stream.read(included)
        if len(body) < included:
            raise CaptureError(f"truncated {where}: {len(body)} of its {included} bytes")
        if not body:
            raise CaptureError(f"{where}: empty, without its direction byte")
        if body[0] not in DIRECTIONS:
            raise CaptureError(
                f"{where}: direction byte {body[0]}, expected {TO_PUMP} (programmer to pump) "
                f"or {FROM_PUMP} (pump to programmer)"
            )
        offset += record_header.size + included
        yield CaptureRecord(body[0], seconds * 1_000_000 + fraction // divisor, body[1:])


def _byte_order(magic: bytes) -> tuple[str, int]:
    """The struct byte order of a pcap file, and what divides its fractions into µs."""
    for order in ("<", ">"):
        (value,) = struct.unpack(order + "I", magic)
        if value == PCAP_MAGIC_US:
            return order, 1
        if value == PCAP_MAGIC_NS:
            return order, 1000
    raise CaptureError(f"not a pcap file: it starts with {magic.hex()}, not a pcap magic number")


def classify(records: Iterable[CaptureRecord]) -> Iterator[Classified]:
    """Each record with the chunk it delimits, or why it holds no frame.

    The rule ``CaptureWriter`` splits by, read back: a record ending in a delimiter with one
    chunk before it is a frame record; anything else is a run.
    """
    cut: set[int] = set()  # directions whose last record was a chunk over the limit
    for record in records:
        data = record.data
        inner = data.lstrip(END_BYTE)
        if inner and data[-1] == END and END_BYTE not in inner[:-1]:
            cut.discard(record.direction)
            yield Classified(record, inner[:-1], None)
            continue
        if not inner:
            why = WHY_DELIMITERS_ONLY
        elif END_BYTE in inner:
            why = "more than one chunk in one record: not written by CaptureWriter"
        elif record.direction in cut and data[0] != END:  # no delimiter since the cut
            why = WHY_REST_OF_TOO_LONG
        elif len(inner) > MAX_STUFFED_LEN:
            why = WHY_TOO_LONG
        else:
            why = WHY_UNCLOSED
        if why == WHY_TOO_LONG:
            cut.add(record.direction)
        elif why != WHY_REST_OF_TOO_LONG:
            cut.discard(record.direction)
        yield Classified(record, None, why)
