"""tools/wireshark/itb_pump.lua, run by tshark on a capture of the published conversation.

Every record's dissection is checked against the protocol package: direction, header fields,
message type names, the tag of signed frames, CRC status, and for an invalid frame the
reason a receiver gives (docs/protocol.md, section 2), so the dissector and the reference
decoder cannot drift apart. ``make dissector`` installs tshark and runs this file (with
``REQUIRE_TSHARK=1``: then a missing tshark fails); elsewhere, without tshark, these tests
skip, saying so. As root (CI), Wireshark may refuse user Lua scripts
(init.lua: ``run_user_scripts_when_superuser``, ``enable_lua``/``disable_lua``): a script that
did not load fails the test, it is never taken for a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import pytest

from protocol import Frame, FrameError, Reason, decode_body
from protocol.capture import (
    FROM_PUMP,
    TO_PUMP,
    WHY_DELIMITERS_ONLY,
    WHY_REST_OF_TOO_LONG,
    WHY_TOO_LONG,
    WHY_UNCLOSED,
    CaptureWriter,
    classify,
)
from protocol.capture import read_capture as read_records
from protocol.messages import MessageType

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "wireshark" / "itb_pump.lua"
VECTORS = json.loads((ROOT / "protocol" / "vectors" / "v2.json").read_text())["vectors"]
TSHARK = shutil.which("tshark")
REQUIRED = bool(os.environ.get("REQUIRE_TSHARK"))  # make dissector: a missing tshark fails
needs_tshark = pytest.mark.skipif(
    TSHARK is None and not REQUIRED,
    reason="tshark is not installed: `make dissector` installs it "
    "(tools/wireshark/install-tshark, Debian, needs root)",
)
LUA = SCRIPT.read_text()
START_US = 1_795_000_000_000_000


# -- the script's tables name what the protocol package names (no tshark needed) --------


def test_the_dissector_names_every_message_type_and_reason() -> None:
    for msg_type in MessageType:
        assert f'[0x{msg_type.value:02X}] = "{msg_type.name}",' in LUA, msg_type
    for reason in Reason:
        assert f'[0x{reason.value:02X}] = "{reason.name}",' in LUA, reason
    assert len(re.findall(r'^    \[0x[0-9A-F]{2}\] = "', LUA, re.MULTILINE)) == len(
        MessageType
    ) + len(Reason)


# -- tshark -----------------------------------------------------------------------------


@dataclass
class Packet:
    fields: dict[str, list[ElementTree.Element]]

    def show(self, name: str) -> str:
        return self.fields[name][0].get("show", "")

    def showname(self, name: str) -> str:
        return self.fields[name][0].get("showname", "")

    def value(self, name: str) -> str:
        return self.fields[name][0].get("value", "")


Dissected = tuple[list[tuple[int, bytes]], list[Packet]]  # what was sent, what tshark made of it


def write_capture(path: Path) -> list[tuple[int, bytes]]:
    """The published conversation, then a frame with a corrupted CRC, then a frame cut
    short by the end of the capture: what each record holds, in order."""
    sent = [
        (TO_PUMP if vector["from"] == "programmer" else FROM_PUMP, bytes.fromhex(vector["hex"]))
        for vector in VECTORS
    ]
    hello = bytes.fromhex(VECTORS[0]["hex"])
    corrupted = hello[:6] + bytes([hello[6] ^ 0x10]) + hello[7:]  # a payload bit flipped
    sent += [(TO_PUMP, corrupted), (FROM_PUMP, hello[:5])]
    with path.open("wb") as stream, CaptureWriter(stream) as writer:
        for index, (direction, data) in enumerate(sent):
            writer.feed(direction, data, START_US + 1000 * index)
    return sent


def dissect(capture: Path) -> list[Packet]:
    assert TSHARK is not None, "tshark is not on the PATH (REQUIRE_TSHARK is set)"
    done = subprocess.run(
        [TSHARK, "-r", str(capture), "-X", f"lua_script:{SCRIPT}", "-T", "pdml"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    assert done.returncode == 0, done.stderr
    assert "Lua" not in done.stderr, f"the Lua script failed to load: {done.stderr}"
    assert "Lua Error" not in done.stdout, "the dissector raised an error"
    packets = []
    for packet in ElementTree.fromstring(done.stdout).iter("packet"):
        fields: dict[str, list[ElementTree.Element]] = {}
        for proto in packet.iter("proto"):
            if proto.get("name") == "itb_pump":
                for field in proto.iter("field"):
                    fields.setdefault(field.get("name", ""), []).append(field)
        packets.append(Packet(fields))
    return packets


@pytest.fixture(scope="module")
def dissected(tmp_path_factory: pytest.TempPathFactory) -> Dissected:
    capture = tmp_path_factory.mktemp("dissector") / "vectors.pcap"
    sent = write_capture(capture)
    return sent, dissect(capture)


@needs_tshark
@pytest.mark.timeout(120)
def test_the_script_loads_even_as_root(
    dissected: Dissected,
) -> None:
    sent, packets = dissected
    assert len(packets) == len(sent)
    missing = [n for n, p in enumerate(packets, 1) if "itb_pump.direction" not in p.fields]
    user = "root" if os.geteuid() == 0 else "this user"
    assert not missing, (
        f"tshark did not run tools/wireshark/itb_pump.lua as {user} (packets {missing[:5]}): "
        "check init.lua (enable_lua, disable_lua, run_user_scripts_when_superuser)"
    )


@needs_tshark
@pytest.mark.timeout(120)
def test_every_record_is_dissected_as_the_protocol_package_reads_it(
    dissected: Dissected,
) -> None:
    sent, packets = dissected
    checked_signed = checked_errors = 0
    for (direction, data), packet in zip(sent, packets, strict=True):
        assert packet.show("itb_pump.direction") == str(direction)
        arrow = "programmer -> pump" if direction == TO_PUMP else "pump -> programmer"
        assert arrow in packet.showname("itb_pump.direction")
        chunk = data.strip(b"\xc0")
        if data[-1] != 0xC0:
            continue  # the run at the end, checked below
        assert packet.show("itb_pump.record") == "frame"
        event = decode_body(chunk)
        if isinstance(event, FrameError):
            assert packet.show("itb_pump.problem") == event.reason.name, (data.hex(), event)
            continue
        assert "itb_pump.problem" not in packet.fields, data.hex()
        assert packet.show("itb_pump.crc.status") == "1"
        assert packet.show("itb_pump.version") == str(event.version)
        assert packet.show("itb_pump.seq") == str(event.seq)
        assert packet.show("itb_pump.length") == str(len(event.payload))
        assert int(packet.show("itb_pump.type"), 16) == event.msg_type
        name = MessageType(event.msg_type).name if event.msg_type in set(MessageType) else None
        if name is not None:
            assert f"Message type: {name} " in packet.showname("itb_pump.type")
        kind = {0: "request", 1: "reply"}.get(event.flags & 3, "notification")
        assert packet.show("itb_pump.kind") == kind
        if event.authenticated:
            assert packet.value("itb_pump.tag") == event.tag.hex()
            assert packet.show("itb_pump.session") == str(event.session_id)
            assert packet.show("itb_pump.counter") == str(event.counter)
            checked_signed += 1
        if event.msg_type == MessageType.ERROR and isinstance(event, Frame):
            reason = Reason(event.payload[0])
            assert f"Reason: {reason.name} " in packet.showname("itb_pump.error.reason")
            checked_errors += 1
    assert checked_signed > 50
    assert checked_errors > 10


@needs_tshark
@pytest.mark.timeout(120)
def test_a_corrupted_frame_and_a_cut_one_are_flagged(
    dissected: Dissected,
) -> None:
    _, packets = dissected
    corrupted, cut = packets[-2], packets[-1]
    assert corrupted.show("itb_pump.crc.status") == "0"
    assert "Bad" in corrupted.showname("itb_pump.crc.status")
    assert corrupted.show("itb_pump.problem") == "BAD_CRC"
    assert cut.show("itb_pump.record") == "not a frame"
    assert cut.show("itb_pump.not_a_frame") == WHY_UNCLOSED


@needs_tshark
@pytest.mark.timeout(120)
def test_runs_and_shared_delimiters_are_named_as_the_protocol_package_names_them(
    tmp_path: Path,
) -> None:
    hello = bytes.fromhex(VECTORS[0]["hex"])
    reply = bytes.fromhex(VECTORS[1]["hex"])
    capture = tmp_path / "runs.pcap"
    with capture.open("wb") as out, CaptureWriter(out) as writer:
        writer.feed(TO_PUMP, hello + b"\x01\x02" + hello, START_US)  # noise, a shared delimiter
        over_limit = b"\xc0" + b"\x55" * 1500 + b"\xc0" + b"\x66" * 1100  # two chunks
        writer.feed(TO_PUMP, over_limit, START_US + 1)
        writer.feed(FROM_PUMP, reply, START_US + 2)
        writer.feed(TO_PUMP, hello + b"\xc0\xc0", START_US + 3)  # ends the long chunk
        writer.feed(FROM_PUMP, reply[:9], START_US + 4)  # cut short by the end
    with capture.open("rb") as stream:
        items = list(classify(read_records(stream)))
    packets = dissect(capture)
    assert len(items) == len(packets) == 11
    for item, packet in zip(items, packets, strict=True):
        assert packet.show("itb_pump.direction") == str(item.record.direction)
        if item.chunk is not None:
            assert packet.show("itb_pump.record") == "frame"
            event = decode_body(item.chunk)
            problem = event.reason.name if isinstance(event, FrameError) else None
            assert packet.fields.get("itb_pump.problem") is None or problem is not None
            if problem is not None:
                assert packet.show("itb_pump.problem") == problem
        else:
            assert packet.show("itb_pump.record") == "not a frame"
            assert packet.show("itb_pump.not_a_frame") == item.why_not_a_frame
    assert {item.why_not_a_frame for item in items} >= {
        WHY_TOO_LONG,
        WHY_REST_OF_TOO_LONG,
        WHY_DELIMITERS_ONLY,
        WHY_UNCLOSED,
    }


@needs_tshark
@pytest.mark.timeout(120)
def test_log_bursts_show_each_page_and_the_burst_size(dissected: Dissected) -> None:
    _, packets = dissected
    requests = replies = 0
    for vector, packet in zip(VECTORS, packets, strict=False):
        decoded = vector.get("decoded") or {}
        if decoded.get("type") != "READ_LOG_PAGES":
            continue
        fields = decoded["fields"]
        if decoded["kind"] == "request":
            assert packet.show("itb_pump.burst.first") == str(fields["first"])
            assert packet.show("itb_pump.burst.max_pages") == str(fields["max_pages"])
            requests += 1
        else:
            assert packet.show("itb_pump.burst.page") == str(fields["page"])
            assert packet.show("itb_pump.burst.pages") == str(fields["pages"])
            assert packet.show("itb_pump.burst.entries") == str(len(fields["entries"]))
            replies += 1
    assert requests >= 4
    assert replies >= 8
