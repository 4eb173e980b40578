"""Log pages from an index on: bursts of READ_LOG_PAGES sized to the line, or READ_LOG.

One READ_LOG_PAGES request is answered by up to 32 pages back to back, so the line carries
log pages, not requests and turnarounds (docs/protocol.md, section 7, "Reading the log in
bursts"). What arrives is used only as far as it is whole: the pages from the first one on,
up to the first missing; the caller asks again from the first index it lacks. The burst is
sized to the line: halved after a burst that lost pages, its pages made smaller (fewer
entries) after one whose first page was lost, doubled back after a whole one, so a noisy
line still makes progress a page at a time. A pump without the request type answers
UNKNOWN_MESSAGE: the reader then falls back to READ_LOG for good.
"""

from __future__ import annotations

from programmer.client import LOG_PAGE, Programmer
from programmer.errors import DeviceRefused, LinkTimeout, UnexpectedReply
from protocol import MAX_BURST_PAGES, LogBurstPage, LogPage, Message, ReadLogPages, Reason

MAX_ENTRIES = 255  # per page: as many as fit
MIN_ENTRIES = 1


class LogPageReader:
    """Reads pages of one pump's log; keeps what it learnt of the line between reads."""

    def __init__(self, p: Programmer, *, max_pages: int = MAX_BURST_PAGES) -> None:
        if not 1 <= max_pages <= 255:
            raise ValueError(f"max_pages {max_pages} outside 1..255")
        self.programmer = p
        self.max_pages = max_pages
        self.bursts = True  # False once the pump said it has no READ_LOG_PAGES
        self.pages_wanted = max_pages
        self.entries_wanted = MAX_ENTRIES
        self.incomplete_bursts = 0  # bursts that lost a page: for figures and tests

    def read(self, first: int) -> list[LogPage]:
        """The pages from ``first`` on that arrived whole and in order; empty when the first
        of them was lost (ask again). Link errors are raised as the link raises them."""
        if not self.bursts:
            return [self.programmer.read_log(first, LOG_PAGE)]
        link = self.programmer.link
        while True:
            request = ReadLogPages(first, self.entries_wanted, self.pages_wanted)
            smallest = self.pages_wanted == 1 and self.entries_wanted == MIN_ENTRIES
            dropped = len(link.dropped)
            try:
                # A burst that can still shrink is sent again once only: the copy gets the
                # same frames, and a noisy line spoils long frames again.
                replies = link.transact_burst(
                    request, _ends_burst, retries=None if smallest else min(link.retries, 1)
                )
                break
            except DeviceRefused as refusal:
                if refusal.reason is not Reason.UNKNOWN_MESSAGE:
                    raise
                self.bursts = False  # a pump of before bursts: page by page from now on
                return self.read(first)
            except LinkTimeout:
                if smallest or len(link.dropped) == dropped:
                    raise  # nothing came back at all: the line is down, not noisy
                self.incomplete_bursts += 1
                self.failed()  # frames came, all spoilt: smaller ones, a new request
        pages = _whole_prefix(replies)
        self._adapt(pages, replies)
        return pages

    def failed(self) -> None:
        """A read ended in a link error: the line is bad; start again small."""
        self.pages_wanted = 1
        self.entries_wanted = max(MIN_ENTRIES, self.entries_wanted // 2)

    def _adapt(self, pages: list[LogPage], replies: list[Message]) -> None:
        burst = [r for r in replies if isinstance(r, LogBurstPage)]
        whole = bool(burst) and len(pages) == burst[0].pages
        if whole:
            self.pages_wanted = min(self.max_pages, self.pages_wanted * 2)
            self.entries_wanted = min(MAX_ENTRIES, self.entries_wanted * 2)
            return
        self.incomplete_bursts += 1
        self.pages_wanted = max(1, self.pages_wanted // 2)
        if not pages:  # even the first page was lost: smaller pages get through noise
            self.entries_wanted = max(MIN_ENTRIES, self.entries_wanted // 2)


def _ends_burst(replies: list[Message]) -> bool:
    """The last page has come: nothing more of the burst will (frames are never reordered)."""
    return any(isinstance(r, LogBurstPage) and r.last for r in replies)


def _whole_prefix(replies: list[Message]) -> list[LogPage]:
    """Pages 0, 1, 2... as far as none is missing, as ``LogPage``s."""
    by_number: dict[int, LogBurstPage] = {}
    for reply in replies:
        if not isinstance(reply, LogBurstPage) or reply.page >= reply.pages:
            raise UnexpectedReply(f"READ_LOG_PAGES answered with {reply!r}")
        by_number.setdefault(reply.page, reply)
    pages: list[LogPage] = []
    while len(pages) in by_number:
        b = by_number[len(pages)]
        pages.append(LogPage(b.oldest, b.next, b.clinical_lost, b.link_lost, b.entries))
    return pages


__all__ = ["LogPageReader"]
