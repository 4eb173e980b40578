"""How much of a 115,200-baud line a full event-log download uses.

The emulator (``pump-emulator --port A --baud-pace 115200``) starts from a state file whose
two log rings are full (4,096 clinical and 1,024 link records, written by the firmware model
itself, with the operator and request stamps a real session leaves); the programmer end is
paced at 115,200 baud too (``transport.PacedChannel`` around the library's own channel). The
download is the library's public call, ``programmer.log_download.download_log``, whatever
its page requests look like. The figure: payload bytes of the replies received during the
download ÷ (seconds × 11,520), 11,520 bytes/s being what the line carries one way. The
payload bytes are the library's own count of ``LogPage`` payloads where the download result
keeps one (``payload_bytes``), else the payloads of every reply frame the trace saw.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from benchmarks.bench_link import emulator_on
from benchmarks.peers import PeerProcess
from benchmarks.settings import Settings
from benchmarks.socat_pair import SocatPair
from emulator.device import EmulatedDevice, Identity
from emulator.state_file import StateFile
from firmware_model import Pump
from firmware_model.units import US_PER_MIN, US_PER_S
from programmer import Programmer
from programmer.log_download import download_log
from protocol import Keyring
from protocol.frame import Frame, FrameDecoder
from transport import PacedChannel

BAUD = 115_200
LINE_BYTES_PER_S = BAUD / 10  # 10 bits a byte: start, 8 data, stop
CLOCK_START_S = 1_795_000_000


def filled_state(clinical: int, link: int) -> dict[str, object]:
    """A default emulated pump whose log holds ``clinical`` dose changes (stamped as a
    clinician's requests) and ``link`` session records, a minute apart, as plain data."""
    pump = Pump()
    pump.set_clock(CLOCK_START_S * US_PER_S)
    pump.refill(20_000_000, 500)
    pump.set_dose(200)
    t_us = 0
    for i in range(max(clinical, link)):
        t_us += US_PER_MIN
        pump.advance_to(t_us)
        if i < clinical:
            with pump.log.context(by="dr.bench@ward3", req=f"{0x5E55_1000 + i // 50:08x}-{i:05d}"):
                pump.set_dose(200 + i % 2)
        if i < link:
            pump.record_event(
                "session_opened", role="clinician", by="dr.bench@ward3", session=f"{i:08x}"
            )
    keys = Keyring.generate(Identity().serial_number)  # only to build the device: not saved
    return EmulatedDevice(pump, Identity(), keys).to_plain()


def bench_log(settings: Settings, workdir: Path) -> dict[str, float]:
    clinical, link = (4_096, 1_024) if settings.log_fill else (96, 32)
    state = workdir / "log-state"
    StateFile(state, durable=False).save(filled_state(clinical + 8, link + 8))  # rings full
    print(f"log: download of {clinical} + {link} records, both ends paced at {BAUD} baud")
    with _pair(workdir) as pair:
        emulator: PeerProcess = emulator_on(
            pair.a, workdir, "--baud-pace", str(BAUD), "--state", str(state)
        )
        received = bytearray()

        def trace(direction: str, data: bytes) -> None:
            if direction == "rx":
                received.extend(data)

        with emulator, Programmer.open(pair.b, key_file=workdir / "keys.json") as programmer:
            link_ = programmer.link
            link_.channel = PacedChannel(link_.channel, BAUD)
            link_.trace = trace
            started = time.perf_counter()
            got = download_log(programmer)
            elapsed_s = time.perf_counter() - started
            link_.trace = None
    frames = [f for f in FrameDecoder().feed(bytes(received)) if isinstance(f, Frame)]
    on_line = sum(len(f.payload) for f in frames)
    # The library's own count of LogPage payloads, where it keeps one (a burst page carries
    # a few bytes of burst header more than the LogPage it holds); else what the line bore.
    counted = getattr(got, "payload_bytes", None)
    payload = counted if isinstance(counted, int) and counted > 0 else on_line
    kinds = Counter(f.msg_type for f in frames)
    print(
        f"  {len(got.records)} records in {len(frames)} replies (types {dict(kinds)}), "
        f"{on_line} payload bytes on the line, {payload} counted, in {elapsed_s:.1f} s",
        flush=True,
    )
    return {
        "line_efficiency": payload / (elapsed_s * LINE_BYTES_PER_S),
        "log_download_s": elapsed_s,
        "log_download_records": float(len(got.records)),
        "log_download_replies": float(len(frames)),
        "log_reply_payload_bytes": float(on_line),
    }


def _pair(workdir: Path) -> SocatPair:
    folder = workdir / "log-pair"
    folder.mkdir(exist_ok=True)
    return SocatPair(folder)
