"""``pump-programmer log``: the pump's event log, in bursts of pages, resumed after a lost link.

Each burst (``log_pages``) is asked for from the index after the last entry received
(docs/protocol.md, section 7, "Reading the log"), and only entries at or after that index
are taken from it, so a page asked for again after a lost link can neither repeat an entry
nor skip one. ``line_efficiency`` times a whole download: the ``make bench`` figure. A
progress bar is drawn on stderr when it is a terminal; the library that draws it is
imported only then. The log is printed as text, CSV or JSON, or written to a file.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from programmer import log_plot
from programmer.client import Programmer
from programmer.errors import LinkError, LinkTimeout, PortError, UsageError
from programmer.formatting import format_log_record, plain
from programmer.log_pages import LogPageReader
from protocol import MAX_BURST_PAGES, LogClass, LogRecord, encode_payload

MAX_RESUMES = 5  # page reads in a row that may fail (each after the link's own retries)
MAX_STALLS = 64  # bursts in a row whose first page was lost (each smaller than the last)
CSV_COLUMNS = ("index", "time_utc", "t_s", "class", "kind", "detail")
FORMATS = ("text", "csv", "json")


class Speaker(Protocol):
    """What the download tells the person at the programmer: ``commands.Ui``."""

    @property
    def say(self) -> Callable[[str], None]: ...


OnPage = Callable[[int, int], None]  # (entries' index span read so far, span in all)
Say = Callable[[str], None]


@dataclass
class LogDownload:
    """What was read: the entries in index order, what the pump's rings have lost."""

    records: list[LogRecord] = field(default_factory=list)
    clinical_lost: int = 0
    link_lost: int = 0
    resumes: int = 0
    payload_bytes: int = 0  # LogPage payloads of the pages used (what the line was for)
    bursts: bool = True  # read in READ_LOG_PAGES bursts (False: READ_LOG, page by page)

    def data(self) -> dict[str, Any]:
        """The JSON object ``log --json`` has always printed."""
        return {
            "entries": [plain(r) for r in self.records],
            "clinical_lost": self.clinical_lost,
            "link_lost": self.link_lost,
        }


def download_log(
    p: Programmer,
    first: int = 0,
    *,
    on_page: OnPage | None = None,
    say: Say | None = None,
    max_resumes: int = MAX_RESUMES,
    bursts: bool = True,
    max_pages: int = MAX_BURST_PAGES,
) -> LogDownload:
    """Every entry from ``first`` (or the oldest held) to the newest, in bursts of pages
    (``log_pages``; page by page with ``bursts`` off, or from a pump without them). A read
    that fails (no valid reply after the link's retries, or the port) is asked for again
    from the next index not yet received, after reopening the port if it failed;
    ``max_resumes`` failures in a row end it with the last error."""
    got = LogDownload()
    reader = LogPageReader(p, max_pages=max_pages)
    reader.bursts = bursts
    next_index = first
    start: int | None = None
    failures = stalls = 0
    while True:
        try:
            pages = reader.read(next_index)
        except (LinkError, PortError) as exc:
            failures += 1
            if failures > max_resumes:
                raise
            got.resumes += 1
            reader.failed()
            if say is not None:
                say(f"link lost reading the log ({exc}); resuming from entry {next_index}")
            if isinstance(exc, PortError):
                with contextlib.suppress(PortError):  # still gone: the next read says so
                    p.link.reconnect_port()
            continue
        failures = 0
        if not pages:  # a burst whose first page was lost: asked again, smaller
            stalls += 1
            if stalls > MAX_STALLS:
                raise LinkTimeout(f"no whole log page from entry {next_index} in {stalls} bursts")
            continue
        stalls = 0
        for page in pages:
            got.payload_bytes += len(encode_payload(page))
            got.clinical_lost, got.link_lost = page.clinical_lost, page.link_lost
            fresh = [r for r in page.entries if r.index >= next_index]
            for record in fresh:  # in index order, as the pump sends them
                if got.records and record.index <= got.records[-1].index:
                    continue
                got.records.append(record)
            if start is None:
                start = max(next_index, page.oldest)
            if fresh:
                next_index = fresh[-1].index + 1
            if on_page is not None:
                total = max(page.next - start, 0)
                on_page(min(next_index - start, total) if fresh else total, total)
            if not fresh or next_index >= page.next:
                got.bursts = reader.bursts
                return got


# -- the progress bar ---------------------------------------------------------------------


@contextlib.contextmanager
def progress_bar(stream: TextIO) -> Iterator[OnPage]:
    """A bar on ``stream`` while pages arrive, cleared when done. rich is imported here,
    and only here: no other command pays for it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("reading the pump's log"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("entries"),
        console=Console(file=stream),
        transient=True,
    ) as bar:
        task = bar.add_task("log", total=None)

        def on_page(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield on_page


def terminal_progress(stream: TextIO) -> contextlib.AbstractContextManager[OnPage | None]:
    """A progress bar on a terminal; nothing on a pipe, a file or in a test."""
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return progress_bar(stream)
    return contextlib.nullcontext(None)


# -- output ---------------------------------------------------------------------------


def as_text(got: LogDownload) -> str:
    records = got.records
    text = "\n".join(format_log_record(r) for r in records)
    shown = "1 entry shown" if len(records) == 1 else f"{len(records)} entries shown"
    if records:
        shown += f" (indices {records[0].index} to {records[-1].index})"
    summary = (
        f"{shown}; lost from the log since the pump was made: "
        f"{got.clinical_lost} clinical, {got.link_lost} link"
    )
    return f"{text}\n{summary}" if text else summary


def as_csv(got: LogDownload) -> str:
    """One row per entry, with a header; times in UTC (ISO 8601) and as Unix seconds."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in got.records:
        when = datetime.fromtimestamp(r.t_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        log_class = LogClass(r.log_class).name.lower()
        writer.writerow((r.index, when, r.t_s, log_class, r.kind, r.detail))
    return buffer.getvalue().rstrip("\n")


def as_json(got: LogDownload) -> str:
    return json.dumps(got.data(), sort_keys=True)


RENDER: dict[str, Callable[[LogDownload], str]] = {"text": as_text, "csv": as_csv, "json": as_json}


def output_format(args: argparse.Namespace) -> str:
    if getattr(args, "csv", False) and args.json:
        raise UsageError("give one of --csv and --json")
    return "csv" if getattr(args, "csv", False) else "json" if args.json else "text"


def check_args(args: argparse.Namespace) -> None:
    """What can be refused before a session is opened (a session costs the battery)."""
    output_format(args)
    output: Path | None = getattr(args, "output", None)
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"cannot write {output}: no folder {output.parent}")


def write_atomically(path: Path, text: str) -> None:
    """The whole file or none of it: written beside it, then renamed into place, with the
    mode a new file gets (or the one the file had)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text + "\n")
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(temporary)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def log_command(p: Programmer, args: argparse.Namespace, ui: Speaker) -> tuple[Any, str]:
    """``log [--first N] [--csv | --json] [--output FILE] [--plot FILE.png]``."""
    check_args(args)
    fmt = output_format(args)
    with terminal_progress(sys.stderr) as on_page:
        got = download_log(p, args.first, on_page=on_page, say=ui.say)
    if getattr(args, "plot", None) is not None:
        log_plot.plot_records(got.records, args.plot)
        ui.say(f"timeline drawn to {args.plot} (the reservoir line is an estimate)")
    rendered = RENDER[fmt](got)
    output: Path | None = getattr(args, "output", None)
    if output is None:
        return got.data(), rendered
    write_atomically(output, rendered)
    summary = {"output": str(output), "format": fmt, "entries": len(got.records)}
    return summary, f"{len(got.records)} log entries written to {output} ({fmt})"
