"""Command-line words to control requests: the shapes docs/control.md promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig_control import parse_address
from rig_control.words import WordsError, request_args


@pytest.mark.parametrize(
    ("verb", "words", "args"),
    [
        ("state", [], {}),
        ("advance", ["45d"], {"duration": "45d"}),
        ("link-advance", ["6h30m"], {"duration": "6h30m"}),
        ("temperature", ["40", "1h"], {"celsius": 40.0, "duration": "1h"}),
        ("battery", ["0.02"], {"fraction": 0.02}),
        ("speed", ["1000"], {"factor": 1000.0}),
        ("reset", [], {}),
        ("reset", ["--preset", "flex"], {"preset": "flex"}),
        (
            "reset",
            ["stopped", "--clock-s", "1795000000"],
            {"preset": "stopped", "clock_s": 1795000000},
        ),
        ("faults", ["off"], {"off": True}),
        (
            "faults",
            ["--flip", "0.01", "--to-pump-drop", "0.5", "--delay-ms", "20", "--baud", "9600"],
            {"both": {"flip": 0.01}, "to_pump": {"drop": 0.5}, "delay_s": 0.02, "baud": 9600},
        ),
    ],
)
def test_words_make_the_documented_request(
    verb: str, words: list[str], args: dict[str, object]
) -> None:
    assert request_args(verb, words) == args


@pytest.mark.parametrize(
    ("verb", "words", "says"),
    [
        ("advance", [], "takes 1 argument"),
        ("temperature", ["40"], "usage: temperature CELSIUS DURATION"),
        ("battery", ["lots"], "not a number"),
        ("faults", [], "say which faults"),
        ("faults", ["--melt", "1"], "unrecognized"),
        ("reset", ["flex", "--preset", "stopped"], "two presets"),
        ("explode", [], "no verb"),
    ],
)
def test_bad_words_say_what_the_verb_takes(verb: str, words: list[str], says: str) -> None:
    with pytest.raises(WordsError, match=says):
        request_args(verb, words)


def test_restore_reads_a_snapshot_file(tmp_path: Path) -> None:
    saved = tmp_path / "pump.json"
    saved.write_text(json.dumps({"format": "x"}))
    assert request_args("restore", [str(saved)]) == {"snapshot": {"format": "x"}}
    with pytest.raises(WordsError, match="cannot read"):
        request_args("restore", [str(tmp_path / "absent.json")])


@pytest.mark.parametrize(
    ("text", "local"),
    [("tcp://127.0.0.1:7001", True), ("tcp://[::1]:7001", True), ("unix:/tmp/c.sock", True),
     ("tcp://0.0.0.0:7001", False), ("tcp://10.0.0.5:7001", False)],
)  # fmt: skip
def test_addresses_and_whether_only_this_machine_reaches_them(text: str, local: bool) -> None:
    assert parse_address(text).is_local is local


@pytest.mark.parametrize("text", ["tcp://host", "udp://1.2.3.4:5", "unix:", "tcp://:99999"])
def test_bad_addresses_name_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="tcp://HOST:PORT or unix:PATH"):
        parse_address(text)
