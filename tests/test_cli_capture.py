"""``pump-programmer --capture FILE`` records a real command's link; ``decode --capture``
reads it back: against a pump served on a pty, through the command line, in-process."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil_tests.emulator_process import EmulatorProcess
from programmer import cli
from programmer.capture_file import CaptureFile
from protocol import Frame, decode_body
from protocol.capture import (
    FROM_PUMP,
    TO_PUMP,
    CaptureRecord,
    CaptureWriter,
    classify,
    read_capture,
)
from tests.cli_rig import Run, ServedPump, run_cli, served_pump
from tests.protocol.test_capture import documented_example

ISO_US = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


@pytest.fixture
def pump(tmp_path: Path) -> Iterator[ServedPump]:
    with served_pump(tmp_path) as served:
        yield served


def records(path: Path) -> list[CaptureRecord]:
    with path.open("rb") as stream:
        return list(read_capture(stream))


def frames(path: Path) -> list[tuple[int, Frame]]:
    out = []
    for item in classify(records(path)):
        assert item.chunk is not None, item
        frame = decode_body(item.chunk)
        assert isinstance(frame, Frame), frame
        out.append((item.record.direction, frame))
    return out


def decode(pump: ServedPump, mp: pytest.MonkeyPatch, *argv: str) -> Run:
    return run_cli(pump, "decode", *argv, monkeypatch=mp)


def test_status_with_capture_records_the_whole_conversation(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    capture = tmp_path / "status.pcap"
    before_us = time.time_ns() // 1000
    run = run_cli(pump, "--capture", str(capture), "status", monkeypatch=monkeypatch)
    after_us = time.time_ns() // 1000
    assert run.code == 0, run.err
    found = frames(capture)
    # Each request from the programmer, then its reply from the pump, HELLO first.
    assert [d for d, _ in found] == [TO_PUMP, FROM_PUMP] * (len(found) // 2)
    assert [f.is_request for _, f in found] == [d == TO_PUMP for d, _ in found]
    assert found[0][1].msg_type == 0x01  # HELLO
    assert 0x10 in {f.msg_type for _, f in found}  # GET_STATUS
    assert all(f.authenticated for _, f in found[5:])  # in the session: signed
    stamps = [r.t_us for r in records(capture)]
    assert stamps == sorted(stamps)
    assert before_us <= stamps[0]
    assert stamps[-1] <= after_us


def test_decode_capture_prints_one_line_per_record(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    capture = tmp_path / "status.pcap"
    assert run_cli(pump, "--capture", str(capture), "status", monkeypatch=monkeypatch).code == 0
    run = decode(pump, monkeypatch, "--capture", str(capture))
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert len(lines) == len(records(capture))
    assert re.match(ISO_US + r" programmer -> pump: request HELLO seq \d+ \{", lines[0])
    assert re.match(ISO_US + r" pump -> programmer: reply HELLO seq \d+ \{", lines[1])
    status = next(line for line in lines if "reply GET_STATUS" in line)
    assert re.search(r"session \d+ counter \d+ \{.*\"state\": \"infusing\"", status)


@pytest.mark.parametrize("where", ["before", "after"])
def test_decode_capture_json_before_or_after_the_command(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    capture = tmp_path / "status.pcap"
    assert run_cli(pump, "--capture", str(capture), "status", monkeypatch=monkeypatch).code == 0
    argv = ["decode", "--capture", str(capture)]
    argv = ["--json", *argv] if where == "before" else [*argv, "--json"]
    run = run_cli(pump, *argv, monkeypatch=monkeypatch)
    assert run.code == 0, run.err
    objects = [json.loads(line) for line in run.out.splitlines()]
    assert len(objects) == len(records(capture))
    first = objects[0]
    assert (first["direction"], first["from"], first["to"]) == (0, "programmer", "pump")
    assert first["frame"]["type"] == "HELLO"
    assert first["frame"]["kind"] == "request"
    assert first["t_us"] == records(capture)[0].t_us
    assert objects[1]["frame"]["fields"]["serial_number"] == "EMU000001"


def test_noise_and_invalid_frames_are_shown_with_why(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    capture = tmp_path / "noisy.pcap"
    hello = bytes.fromhex("c001000001010002020234e0c0")
    bad_crc = hello[:-2] + b"\x00\xc0"
    with capture.open("wb") as stream, CaptureWriter(stream) as writer:
        writer.feed(TO_PUMP, hello, 1_795_000_000_000_001)
        writer.feed(TO_PUMP, bad_crc, 1_795_000_000_000_002)
        writer.feed(FROM_PUMP, b"\xc0\x01\x02", 1_795_000_000_000_003)
    run = decode(pump, monkeypatch, "--capture", str(capture))
    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "2026-11-18T11:06:40.000001Z programmer -> pump: request HELLO seq 1 "
        '{"max_version": 2, "min_version": 2}',
        "2026-11-18T11:06:40.000002Z programmer -> pump: invalid frame: BAD_CRC: "
        "CRC 0x3400, computed 0x34E0: c00100000101000202023400c0",
        "2026-11-18T11:06:40.000003Z pump -> programmer: not a frame (no closing delimiter: "
        "the capture ends here): c00102",
    ]


def test_decode_takes_hex_or_capture_exactly_once(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    neither = decode(pump, monkeypatch)
    assert neither.code == 2
    assert "one of the arguments HEX --capture is required" in neither.error
    both = decode(pump, monkeypatch, "c001000001010002020234e0c0", "--capture", "x.pcap")
    assert both.code == 2
    assert "not allowed with argument" in both.error
    hex_still = decode(pump, monkeypatch, "c001000001010002020234e0c0")
    assert hex_still.code == 0, hex_still.err
    assert json.loads(hex_still.out)["type"] == "HELLO"
    misplaced = run_cli(
        pump,
        "--capture",
        str(tmp_path / "c.pcap"),
        "decode",
        "c001000001010002020234e0c0",
        monkeypatch=monkeypatch,
    )
    assert misplaced.code == 2
    assert "to read a capture: decode --capture FILE" in misplaced.error


def test_a_file_that_is_no_capture_is_one_line_and_exit_2(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a capture at all, just some notes\n")
    run = decode(pump, monkeypatch, "--capture", str(text))
    assert run.code == 2
    assert run.err.count("\n") == 1
    assert run.error == (
        f"pump-programmer: error: capture {text}: not a pcap file: it starts with 6e6f7420, "
        "not a pcap magic number"
    )
    missing = decode(pump, monkeypatch, "--capture", str(tmp_path / "nowhere.pcap"))
    assert missing.code == 2
    assert missing.error.endswith("nowhere.pcap: No such file or directory")


def test_a_truncated_capture_prints_what_is_whole_then_the_fault(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    capture = tmp_path / "status.pcap"
    assert run_cli(pump, "--capture", str(capture), "status", monkeypatch=monkeypatch).code == 0
    whole = records(capture)
    data = capture.read_bytes()
    capture.write_bytes(data[:-3])
    run = decode(pump, monkeypatch, "--capture", str(capture))
    assert run.code == 2
    assert len(run.out.splitlines()) == len(whole) - 1
    last_at = len(data) - 16 - 1 - len(whole[-1].data)
    assert run.error == (
        f"pump-programmer: error: capture {capture}: truncated record {len(whole)} at byte "
        f"{last_at}: {len(whole[-1].data) + 1 - 3} of its {len(whole[-1].data) + 1} bytes"
    )


def test_the_capture_is_complete_after_ctrl_c_at_the_question(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    capture = tmp_path / "interrupted.pcap"

    def ctrl_c(_: int) -> None:
        raise KeyboardInterrupt

    run = run_cli(
        pump,
        "--capture",
        str(capture),
        "set-dose",
        "220",
        answers=["y"],
        on_ask=ctrl_c,
        monkeypatch=monkeypatch,
    )
    assert run.code == 130
    found = frames(capture)  # every record whole, every one a frame
    assert 0x12 in {f.msg_type for _, f in found}  # STAGE_PRESCRIPTION was sent
    assert 0x13 not in {f.msg_type for _, f in found}  # and nothing committed


def test_a_capture_that_cannot_be_written_is_refused_before_the_pump_is_touched(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    written_before = pump.pump.log.written
    run = run_cli(
        pump, "--capture", str(tmp_path / "no-dir" / "c.pcap"), "status", monkeypatch=monkeypatch
    )
    assert run.code == 2
    assert run.error.startswith("pump-programmer: error: cannot write the capture ")
    assert run.error.endswith("No such file or directory")
    assert pump.pump.log.written == written_before
    opened = run_cli(pump, "--capture", str(tmp_path / "c.pcap"), "status", monkeypatch=monkeypatch)
    assert opened.code == 0, opened.err
    assert pump.pump.log.written > written_before  # what the first run would have logged


def test_a_write_failure_mid_command_stops_the_capture_not_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    path = tmp_path / "c.pcap"
    hello = bytes.fromhex("c001000001010002020234e0c0")

    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    with CaptureFile(path, said.append, clock_us=lambda: 5) as capture:
        trace = capture.trace
        trace("tx", hello)
        monkeypatch.setattr(CaptureWriter, "_write", disk_full)
        trace("rx", hello)  # raises nothing: the command goes on
        trace("rx", hello)  # and is not recorded
        monkeypatch.undo()
    assert said == [f"capture {path}: No space left on device; nothing more is recorded"]
    [record] = records(path)
    assert (record.direction, record.t_us) == (TO_PUMP, 5)
    assert struct.unpack("<I", path.read_bytes()[:4]) == (0xA1B2C3D4,)


def test_the_decoded_example_in_the_specification_is_what_decode_prints(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    capture = tmp_path / "example.pcap"
    capture.write_bytes(documented_example())
    run = decode(pump, monkeypatch, "--capture", str(capture))
    assert run.code == 0, run.err
    doc = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
    section = doc[doc.index("## 15. Capture files") :]
    assert f"```\n{run.out}```" in section


def test_a_port_that_fails_leaves_a_valid_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "nothing.pcap"
    port = str(tmp_path / "no-such-port")
    code = cli.main(["--port", port, "--capture", str(capture), "--operator", "t", "status"])
    assert code == 3
    assert capsys.readouterr().err.count("\n") == 1
    assert records(capture) == []  # a whole pcap file, with nothing sent


@pytest.mark.timeout(120)
def test_the_emulator_and_the_programmer_capture_the_same_conversation(tmp_path: Path) -> None:
    """`pump-emulator --capture` on the pump's end, `pump-programmer --capture` on the other:
    both captures hold the same frames in the same directions."""
    pump_side = tmp_path / "pump.pcap"
    programmer_side = tmp_path / "programmer.pcap"
    with EmulatorProcess(tmp_path, extra_args=("--capture", str(pump_side))) as emulator:
        run = subprocess.run(
            [sys.executable, "-m", "programmer", "--port", emulator.port, "--key-file",
             str(emulator.key_file), "--capture", str(programmer_side), "status"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
    assert emulator.returncode == 0
    programmer_frames = [(d, f.seq, f.msg_type) for d, f in frames(programmer_side)]
    pump_frames = [(d, f.seq, f.msg_type) for d, f in frames(pump_side)]
    assert pump_frames == programmer_frames
    assert len(pump_frames) >= 10
