"""docs/protocol.md is the specification: its tables must name what the code does."""

import re
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


def test_roles_table_matches_the_permissions() -> None:
    from protocol import PERMITTED, Role

    for role in Role:
        row = next(line for line in DOC.splitlines() if line.startswith(f"| {role.label} |"))
        if role is Role.CLINICIAN:
            assert "every request" in row
            continue
        assert {t.name for t in PERMITTED[role]} == set(re.findall(r"`([A-Z_]+)`", row))


def test_stated_payload_sizes_match_the_layouts() -> None:
    from protocol import StatusReply
    from protocol.frame import MAX_PAYLOAD_LEN

    assert StatusReply.FAST is not None
    assert f"`StatusReply` ({StatusReply.FAST.size} bytes)" in DOC
    assert f"0 to {MAX_PAYLOAD_LEN}" in DOC
