"""``pump-programmer log`` (issue 9): resumed after a lost link with no entry repeated or
skipped, a progress bar on a terminal only, CSV and JSON out, to stdout or a file; and no
plotting or progress library imported by a command that draws nothing.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.device import EmulatedDevice
from emulator.simulated_line import ManualClock, SimulatedLine
from faults.noisy_link import build_device
from programmer import Link, LinkTimeout, PortError, Programmer, cli
from programmer.log_download import download_log, terminal_progress
from protocol import LogRecord, Role
from tests.cli_rig import ServedPump, run_cli, served_pump

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("rich", "tqdm", "matplotlib")


class DroppingLine(SimulatedLine):
    """A line that fails once, at the ``cut_at``-th reply: half the reply gets through, then
    nothing either way for ``dead_s`` (or reads fail, as a port pulled out, when ``port``)."""

    cut_at = 0
    dead_s = 0.0
    port = False
    deliveries = 0
    dead_until_s = -1.0
    reopened = 0

    def write(self, data: bytes) -> None:
        if self.clock.now_s < self.dead_until_s:
            return
        super().write(data)

    def read_some(self, timeout_s: float | None = None) -> bytes:
        if self.clock.now_s < self.dead_until_s:
            if self.port:
                raise OSError("device reports readiness to read but returned no data")
            self.clock.advance(0.05 if timeout_s is None else timeout_s)
            return b""
        return super().read_some(timeout_s)

    def _deliver(self, out: bytes) -> None:
        if not out:
            return
        self.deliveries += 1
        if self.deliveries == self.cut_at:
            out = out[: len(out) // 2]  # the link drops mid-page
            self.dead_until_s = self.clock.now_s + self.dead_s
        super()._deliver(out)

    def reopen(self) -> DroppingLine:
        if self.clock.now_s < self.dead_until_s:
            self.clock.advance(0.05)
            raise PortError("cannot open port: No such file or directory")
        self.reopened += 1
        return self


def busy_pump(seed: int = 5) -> tuple[EmulatedDevice, Programmer, DroppingLine]:
    device, keys = build_device(seed)
    for i in range(100):  # a log of some 14 pages
        device.pump.set_dose(200 + i % 3)
    clock = ManualClock()
    line = DroppingLine(device, clock)
    link = Link(
        line,
        timeout_s=0.05,
        retries=2,
        clock=clock,
        sleep=clock.sleep,
        random_bytes=random.Random(seed).randbytes,
        reopen=line.reopen,
    )
    programmer = Programmer(link, "reader")
    programmer.hello()
    programmer.open_session(Role.READ_ONLY, keys)
    return device, programmer, line


def held(device: EmulatedDevice, first: int, last: int) -> list[tuple[int, str, str]]:
    return [
        (index, entry.kind, str(entry.detail.get("dose_ug_per_day", "")))
        for index, entry in device.pump.log.page(first, 1 << 20)
        if index <= last
    ]


def got(records: list[LogRecord]) -> list[tuple[int, str, str]]:
    out = []
    for r in records:
        detail = dict(pair.split("=", 1) for pair in r.detail.split() if "=" in pair)
        out.append((r.index, r.kind, detail.get("dose_ug_per_day", "")))
    return out


@pytest.mark.parametrize("bursts", [False, True], ids=["READ_LOG", "READ_LOG_PAGES x1"])
@pytest.mark.parametrize("port", [False, True], ids=["link silent", "port pulled out"])
@pytest.mark.parametrize("cut_at", [4, 7, 11])
def test_a_link_lost_mid_download_resumes_with_no_entry_repeated_or_lost(
    port: bool, cut_at: int, bursts: bool
) -> None:
    device, programmer, line = busy_pump()
    line.cut_at = line.deliveries + cut_at  # the cut_at-th reply (or burst) is cut in half
    line.dead_s = 0.5  # longer than the link's own retries (3 x 0.05 s)
    line.port = port
    said: list[str] = []
    download = download_log(programmer, 0, say=said.append, bursts=bursts, max_pages=1)
    assert download.resumes >= 1
    assert any("resuming from entry" in s for s in said)
    if port:
        assert line.reopened >= 1
    indices = [r.index for r in download.records]
    assert len(indices) == len(set(indices))  # none repeated
    assert got(download.records) == held(device, 0, indices[-1])  # none skipped
    assert indices[-1] == device.pump.log.written - 1  # to the end


def test_the_page_asked_for_again_is_the_one_after_the_last_entry_received() -> None:
    _device, programmer, line = busy_pump()
    asked: list[int] = []
    read_log = programmer.read_log

    def recording(first: int = 0, max_entries: int = 8) -> object:
        asked.append(first)
        return read_log(first, max_entries)

    programmer.read_log = recording  # type: ignore[method-assign, assignment]
    line.cut_at = line.deliveries + 5
    line.dead_s = 0.5
    download = download_log(programmer, 0, bursts=False)
    assert download.resumes >= 1
    repeated = [first for first, after in itertools.pairwise(asked) if first == after]
    assert repeated  # the failed page was asked for again, from the same index
    received = {r.index for r in download.records}
    for first in asked[1:]:
        assert first - 1 in received  # always from the entry after one received


def test_a_link_that_stays_lost_ends_the_download_with_the_link_error() -> None:
    _, programmer, line = busy_pump()
    line.cut_at = line.deliveries + 3
    line.dead_s = 1e9
    with pytest.raises(LinkTimeout):
        download_log(programmer, 0, max_resumes=2, max_pages=2)


def test_progress_goes_from_nothing_to_everything() -> None:
    _, programmer, _ = busy_pump()
    seen: list[tuple[int, int]] = []
    download_log(programmer, 0, on_page=lambda done, total: seen.append((done, total)), max_pages=2)
    assert len(seen) >= 10
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1][0] == seen[-1][1]


# -- the command line ---------------------------------------------------------------------


@pytest.fixture
def pump(tmp_path: Path) -> Iterator[ServedPump]:
    with served_pump(tmp_path) as served:
        yield served


def test_log_csv_has_a_header_and_one_row_per_entry(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_csv = run_cli(pump, "log", "--csv", monkeypatch=monkeypatch)
    assert as_csv.code == 0
    rows = list(csv.DictReader(io.StringIO(as_csv.out)))
    as_json = run_cli(pump, "log", "--json", monkeypatch=monkeypatch)
    entries = json.loads(as_json.out)["entries"]
    assert [int(r["index"]) for r in rows] == [e["index"] for e in entries][: len(rows)]
    assert list(rows[0]) == ["index", "time_utc", "t_s", "class", "kind", "detail"]
    first = rows[0]
    assert first["time_utc"] == "2026-11-18T11:06:40Z"  # the served pump's clock
    assert (first["class"], first["kind"]) == ("clinical", "clock_set")
    assert "refill" in {r["kind"] for r in rows}


@pytest.mark.parametrize("fmt", ["text", "--csv", "--json"])
def test_output_writes_to_a_file_what_stdout_would_show(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fmt: str
) -> None:
    chosen = [] if fmt == "text" else [fmt]
    target = tmp_path / "pump-log.out"
    written = run_cli(pump, "log", *chosen, "--output", str(target), monkeypatch=monkeypatch)
    assert written.code == 0
    assert f"written to {target}" in written.out or '"output"' in written.out
    text = target.read_text()
    if fmt == "--json":
        assert set(json.loads(text)) == {"entries", "clinical_lost", "link_lost"}
    elif fmt == "--csv":
        assert text.startswith("index,time_utc,t_s,class,kind,detail\n")
    else:
        assert "entries shown" in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pump-log")]  # no temp
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as any new file, not 0600


def test_json_before_or_after_log_prints_the_same_object(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    after = json.loads(run_cli(pump, "log", "--json", monkeypatch=monkeypatch).out)
    before = json.loads(run_cli(pump, "--json", "log", monkeypatch=monkeypatch).out)
    assert set(after) == set(before) == {"entries", "clinical_lost", "link_lost"}
    assert before["entries"][: len(after["entries"])] == after["entries"]


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["log", "--csv", "--json"], "give one of --csv and --json"),
        (["--json", "log", "--csv"], "give one of --csv and --json"),
        (["log", "--output", "/no/such/folder/log.csv"], "no folder /no/such/folder"),
    ],
)
def test_bad_log_options_are_refused_before_a_session_is_opened(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, argv: list[str], problem: str
) -> None:
    run = run_cli(pump, *argv, monkeypatch=monkeypatch)
    assert run.code == 2
    assert problem in run.error
    pump.stop()
    assert not [e for e in pump.pump.log if e.kind == "session_opened"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_is_drawn_on_a_terminal_only(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = cli.main(["--port", pump.port, "--key-file", str(pump.key_file), "log"])
    assert code == 0
    assert "reading the pump's log" in terminal.getvalue()
    assert "entries shown" in capsys.readouterr().out  # the log itself, on stdout
    with terminal_progress(io.StringIO()) as on_page:
        assert on_page is None
    run = run_cli(pump, "log", monkeypatch=monkeypatch)  # stderr captured: not a terminal
    assert run.code == 0
    assert "reading the pump's log" not in run.err


def test_status_and_log_off_a_terminal_import_no_plotting_or_progress_library(
    pump: ServedPump,
) -> None:
    script = (
        "import sys\n"
        "from programmer import cli\n"
        f"base = ['--port', {pump.port!r}, '--key-file', {str(pump.key_file)!r}]\n"
        "codes = [cli.main(base + ['status']), cli.main(base + ['log', '--csv'])]\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('RESULT', codes, heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert "RESULT [0, 0] []" in result.stderr, result.stderr
