"""``pump-programmer decode``: what a frame given in hex says, as JSON, with a typed error if
it is none; or a whole capture file (``--capture FILE``, docs/protocol.md section 15), one
line per record, for people or as JSON."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from programmer.formatting import plain
from protocol import Frame, FrameDecoder, Kind, MessageError, decode_body, decode_message
from protocol.capture import TO_PUMP, CaptureError, Classified, classify, read_capture
from protocol.stuffing import END

EXIT_OK = 0
EXIT_INVALID = 1  # bytes that are not a valid frame
EXIT_USAGE = 2  # text that is not bytes at all


def describe(frame: Frame) -> dict[str, Any]:
    message = decode_message(frame)
    described: dict[str, Any] = {
        "kind": Kind.of(frame.flags).value,
        "seq": frame.seq,
        "type": message.TYPE.name,
        "message": type(message).__name__,
        "fields": plain(message),
    }
    if frame.authenticated:
        described.update(
            session_id=frame.session_id,
            counter=frame.counter,
            tag=frame.tag.hex(),
            tag_checked=False,
        )
    return described


def decode_hex(text: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    cleaned = "".join(ch for ch in text if ch not in " :\n\t")
    try:
        data = bytes.fromhex(cleaned)
    except ValueError:
        print(f"pump-programmer: error: not hexadecimal: {text!r}", file=err)
        return EXIT_USAGE
    if not data:
        print("pump-programmer: error: no bytes to decode", file=err)
        return EXIT_USAGE
    if data[0] != END:
        data = bytes([END]) + data
    if data[-1] != END:
        data += bytes([END])
    status = EXIT_OK
    events = FrameDecoder().feed(data)
    if not events:
        print("pump-programmer: error: no frame in those bytes (only delimiters)", file=err)
        return EXIT_INVALID
    for event in events:
        if isinstance(event, Frame):
            try:
                print(json.dumps(describe(event), sort_keys=True), file=out)
                continue
            except MessageError as exc:
                reason, detail = exc.reason, exc.detail
        else:
            reason, detail = event.reason, event.detail
        print(f"pump-programmer: error: {reason.name}: {detail}", file=err)
        status = EXIT_INVALID
    return status


def decode_capture(
    path: Path, *, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Every record of a capture, in file order: exit 0 once the file is read to its end,
    invalid frames and noise included (they are part of the conversation); 2 for a file that
    cannot be read as a capture, after printing the records before the fault."""
    try:
        with path.open("rb") as stream:
            for item in classify(read_capture(stream)):
                described = describe_record(item)
                text = json.dumps(described, sort_keys=True) if as_json else line(described)
                print(text, file=out)
    except BrokenPipeError:  # `| head` closed the pipe: not a fault of the file
        sys.stdout = None
        return EXIT_OK
    except (OSError, CaptureError) as exc:
        why = exc.strerror or exc if isinstance(exc, OSError) else exc
        print(f"pump-programmer: error: capture {path}: {why}", file=err)
        return EXIT_USAGE
    return EXIT_OK


def describe_record(item: Classified) -> dict[str, Any]:
    record = item.record
    to_pump = record.direction == TO_PUMP
    sender, receiver = ("programmer", "pump") if to_pump else ("pump", "programmer")
    described: dict[str, Any] = {
        "t_us": record.t_us,
        "time": _iso(record.t_us),
        "direction": record.direction,
        "from": sender,
        "to": receiver,
        "hex": record.data.hex(),
    }
    if item.chunk is None:
        described["not_a_frame"] = item.why_not_a_frame
        return described
    event = decode_body(item.chunk)
    if isinstance(event, Frame):
        try:
            described["frame"] = describe(event)
            return described
        except MessageError as exc:
            reason, detail = exc.reason, exc.detail
    else:
        reason, detail = event.reason, event.detail
    described["invalid"] = {"reason": reason.name, "detail": detail}
    return described


def line(described: dict[str, Any]) -> str:
    """One record for people: time, who to whom, then what it says."""
    head = f"{described['time']} {described['from']} -> {described['to']}:"
    frame = described.get("frame")
    if frame is not None:
        session = ""
        if "session_id" in frame:
            session = f" session {frame['session_id']} counter {frame['counter']}"
        fields = json.dumps(frame["fields"], sort_keys=True)
        return f"{head} {frame['kind']} {frame['type']} seq {frame['seq']}{session} {fields}"
    invalid = described.get("invalid")
    if invalid is not None:
        return f"{head} invalid frame: {invalid['reason']}: {invalid['detail']}: {described['hex']}"
    return f"{head} not a frame ({described['not_a_frame']}): {described['hex']}"


def _iso(t_us: int) -> str:
    return (
        datetime.fromtimestamp(t_us // 1_000_000, UTC)
        .replace(microsecond=t_us % 1_000_000)
        .strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )
