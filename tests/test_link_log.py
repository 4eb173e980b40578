from pathlib import Path

from hil_tests.link_log import LinkLog
from protocol import Hello, ProgrammerConnection


def test_link_log_records_hex_and_decoded_frames(tmp_path: Path) -> None:
    log = LinkLog(tmp_path / "deep" / "t.log")
    _, frame = ProgrammerConnection(first_seq=5).request(Hello())
    log.trace("tx", frame[:4])  # a frame may arrive in pieces
    log.trace("tx", frame[4:])
    log.trace("rx", b"\xc0\x01\x02\xc0")
    log.close()
    text = log.tail()
    assert frame[:4].hex() in text
    assert "request seq 5: Hello(min_version=2, max_version=2)" in text
    assert "unreadable" in text
