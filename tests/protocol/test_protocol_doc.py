"""docs/protocol.md is the specification: its tables must name what the code does."""

from pathlib import Path

from protocol import MessageType, Reason

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def test_every_reason_code_is_specified() -> None:
    for reason in Reason:
        assert f"| `0x{reason.value:02X}` | `{reason.name}` |" in DOC, reason


def test_every_message_type_is_specified() -> None:
    for msg_type in MessageType:
        assert f"| `0x{msg_type.value:02X}` | `{msg_type.name}` |" in DOC, msg_type


def test_crc_check_value_is_stated() -> None:
    assert "`0x29B1`" in DOC
