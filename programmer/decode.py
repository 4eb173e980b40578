"""``pump-programmer decode HEX``: what a captured frame says, as JSON; a typed error if none."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from programmer.formatting import plain
from protocol import Frame, FrameDecoder, Kind, MessageError, decode_message
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
